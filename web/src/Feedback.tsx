import type { Rating } from "./chat";

// Drawn rather than emoji (👍/👎): the same look on every system, fonts without emoji included.
// The outlines are Feather's thumbs-up and thumbs-down icons (MIT licence).
const THUMBS: Record<Rating, string> = {
  up: "M14 9V5a3 3 0 0 0-3-3l-4 9v11h11.28a2 2 0 0 0 2-1.7l1.38-9a2 2 0 0 0-2-2.3zM7 22H4a2 2 0 0 1-2-2v-7a2 2 0 0 1 2-2h3",
  down: "M10 15v4a3 3 0 0 0 3 3l4-9V2H5.72a2 2 0 0 0-2 1.7l-1.38 9a2 2 0 0 0 2 2.3zm7-13h2.67A2.31 2.31 0 0 1 22 4v7a2.31 2.31 0 0 1-2.33 2H17",
};

const CHOICES: { rating: Rating; label: string }[] = [
  { rating: "up", label: "Helpful" },
  { rating: "down", label: "Not helpful" },
];

function Thumb({ rating }: { rating: Rating }) {
  return (
    <svg
      aria-hidden="true"
      focusable="false"
      width="14"
      height="14"
      viewBox="0 0 24 24"
      fill="none"
      stroke="currentColor"
      strokeWidth="2"
      strokeLinecap="round"
      strokeLinejoin="round"
    >
      <path d={THUMBS[rating]} />
    </svg>
  );
}

/**
 * The customer's thumbs up (👍) or down (👎) under a finished reply. `rating` is what the server has
 * recorded: a button shows pressed only once it did (`feedback_recorded`, or the transcript).
 */
export function ReplyFeedback({
  rating,
  disabled = false,
  onRate,
}: {
  rating: Rating | null;
  disabled?: boolean;
  onRate: (rating: Rating) => void;
}) {
  return (
    <div className="feedback" role="group" aria-label="Was this reply helpful?" data-testid="feedback" data-rating={rating ?? ""}>
      {CHOICES.map((choice) => (
        <button
          key={choice.rating}
          type="button"
          className="feedback-btn"
          aria-label={choice.label}
          aria-pressed={rating === choice.rating}
          title={choice.label}
          data-testid={`feedback-${choice.rating}`}
          disabled={disabled}
          onClick={() => onRate(choice.rating)}
        >
          <Thumb rating={choice.rating} />
        </button>
      ))}
      {rating && (
        <span className="feedback-thanks" data-testid="feedback-thanks">
          Thanks for your feedback
        </span>
      )}
    </div>
  );
}
