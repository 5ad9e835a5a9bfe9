// One entry of the chat log: the customer's message, an agent's reply, a person's message, a
// notice or an approval card.

import { ApprovalCard } from "./ApprovalCard";
import { type Item, personLabel, type Rating } from "./chat";
import { ReplyFeedback } from "./Feedback";
import { Markdown } from "./markdown";

export function Message({
  item,
  linkDomains,
  connected,
  onDecide,
  onRate,
}: {
  item: Item;
  linkDomains: string[];
  connected: boolean;
  onDecide: (id: string, d: "approve" | "reject") => void;
  onRate: (replyId: string, rating: Rating) => void;
}) {
  switch (item.kind) {
    case "customer":
      return (
        <div className="row row-customer">
          <div
            className="bubble bubble-customer"
            data-testid="message-customer"
            data-delivery={item.delivery}
            title={item.delivery === "failed" ? "Not sent: please send it again" : undefined}
          >
            {item.text}
          </div>
        </div>
      );
    case "agent": {
      const replyId = item.replyId;
      return (
        <div className="row row-agent">
          <div className="reply" data-testid="agent-reply" data-reply-id={replyId ?? undefined}>
            <div
              className={`bubble bubble-agent${item.streaming ? " streaming" : ""}`}
              data-testid="message-agent"
              data-streaming={item.streaming ? "true" : "false"}
            >
              <div className="agent-name" data-testid="agent-name">
                {item.name}
              </div>
              <div className="markdown">
                <Markdown text={item.text} linkDomains={linkDomains} />
              </div>
            </div>
            {!item.streaming && replyId !== null && (
              <ReplyFeedback rating={item.rating} disabled={!connected} onRate={(rating) => onRate(replyId, rating)} />
            )}
          </div>
        </div>
      );
    }
    case "person":
      return (
        <div className="row row-agent">
          <div className="bubble bubble-person" data-testid="message-person">
            <div className="person-name" data-testid="person-name">
              {personLabel(item.name)}
            </div>
            <div className="person-text">{item.text}</div>
          </div>
        </div>
      );
    case "notice":
      return (
        <div className={`notice notice-${item.tone}`} data-testid="notice" role={item.tone === "error" ? "alert" : undefined}>
          {item.text}
        </div>
      );
    case "approval":
      return <ApprovalCard item={item} onDecide={onDecide} />;
  }
}
