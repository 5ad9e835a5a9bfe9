/*
 * Smart Support on any site: <script src="https://CHAT_HOST/embed.js" async></script>
 *
 * Adds a launcher button and a chat panel. The chat runs in an iframe of the chat server
 * (`/?embed=1`), so this page's styles and scripts do not reach it, nor its styles this page; the
 * launcher lives in a shadow root for the same reason. A customer the site has signed in is
 * handed over as a JWT its server signed (docs/embedding.md):
 *   <script src=".../embed.js" data-identity="eyJ..." async></script>   or later
 *   window.SmartSupport.identify("eyJ...")                             (null: signed out)
 * The token goes by postMessage to the chat's exact origin only; the chat accepts it only from
 * its parent page, and only if this page's origin is in the server's ALLOWED_ORIGINS.
 */
(function () {
  "use strict";
  if (window.SmartSupport && window.SmartSupport.version) return; // loaded twice

  var script = document.currentScript;
  var chatOrigin = new URL(script && script.src ? script.src : "/", window.location.href).origin;
  var identity = (script && script.getAttribute("data-identity")) || null;
  var label = (script && script.getAttribute("data-label")) || "Chat with us";
  var frame = null;
  var ready = false;
  var open = false;

  var host = document.createElement("div");
  host.setAttribute("data-smart-support", "");
  // The page's own rules may match this element (`div { transform: ... }` would move a fixed
  // launcher): inline and important, nothing of them applies to it.
  host.setAttribute("style", "all: initial !important;");
  var root = host.attachShadow({ mode: "open" });
  root.innerHTML =
    "<style>" +
    ":host{all:initial}" +
    ".launcher{position:fixed;right:20px;bottom:20px;z-index:2147483646;width:56px;height:56px;" +
    "border:0;border-radius:50%;background:#2f5bea;color:#fff;cursor:pointer;padding:0;margin:0;" +
    "box-shadow:0 6px 20px rgba(16,24,40,.25);display:flex;align-items:center;justify-content:center}" +
    ".launcher:focus-visible{outline:3px solid #9bb4ff;outline-offset:2px}" +
    ".panel{position:fixed;right:20px;bottom:88px;z-index:2147483647;width:min(440px,calc(100vw - 40px));" +
    "height:min(640px,calc(100vh - 110px));border-radius:16px;overflow:hidden;background:#fff;" +
    "box-shadow:0 12px 40px rgba(16,24,40,.22);display:none}" +
    ".panel.open{display:block}" +
    "iframe{border:0;width:100%;height:100%;display:block}" +
    "</style>" +
    '<div class="panel" part="panel"></div>' +
    '<button class="launcher" type="button" aria-expanded="false"></button>';
  var panel = root.querySelector(".panel");
  var button = root.querySelector(".launcher");
  button.setAttribute("aria-label", label);
  button.setAttribute("title", label);
  var ICON_CHAT =
    '<svg width="26" height="26" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2"' +
    ' stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><path d="M21 12a8 8 0 0 1-11.6 7.1L4 20' +
    'l1-4.6A8 8 0 1 1 21 12z"/></svg>';
  var ICON_CLOSE =
    '<svg width="22" height="22" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2.4"' +
    ' stroke-linecap="round" aria-hidden="true"><path d="M6 6l12 12M18 6L6 18"/></svg>';
  button.innerHTML = ICON_CHAT;

  function handOver() {
    if (frame && ready && frame.contentWindow) {
      frame.contentWindow.postMessage({ type: "smart-support:identity", identity: identity }, chatOrigin);
    }
  }

  function ensureFrame() {
    if (frame) return;
    frame = document.createElement("iframe");
    frame.title = "Customer support chat";
    frame.src = chatOrigin + "/?embed=1&origin=" + encodeURIComponent(window.location.origin);
    frame.setAttribute("referrerpolicy", "no-referrer");
    panel.appendChild(frame);
  }

  window.addEventListener("message", function (event) {
    if (!frame || event.source !== frame.contentWindow || event.origin !== chatOrigin) return;
    if (event.data && event.data.type === "smart-support:ready") {
      ready = true;
      handOver();
    }
  });

  function setOpen(value) {
    open = value;
    if (open) ensureFrame();
    panel.classList.toggle("open", open);
    button.setAttribute("aria-expanded", open ? "true" : "false");
    button.innerHTML = open ? ICON_CLOSE : ICON_CHAT;
    if (open && frame) frame.focus(); // the keyboard goes on in the chat
  }

  button.addEventListener("click", function () {
    setOpen(!open);
  });

  window.SmartSupport = {
    version: 1,
    open: function () { setOpen(true); },
    close: function () { setOpen(false); },
    toggle: function () { setOpen(!open); },
    /** Hand over a signed identity (a JWT from your server), or null when the customer signs out. */
    identify: function (token) {
      identity = typeof token === "string" && token ? token : null;
      handOver();
    },
  };

  function mount() {
    document.body.appendChild(host);
  }
  // For a page's scripts that load before this one: identify() and open() exist from here on.
  window.dispatchEvent(new Event("smart-support:loaded"));
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
