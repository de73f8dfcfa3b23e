//! The customer's sentiment over a conversation, read from the scores understanding logged per
//! message.

use frontline_domain::{Event, EventKind};
use serde::{Deserialize, Serialize};

/// At or below this a message counts as negative (the scorer's own neutral band).
pub const NEGATIVE: f32 = -0.05;

/// The customer's sentiment over a conversation, oldest message first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Trajectory {
    /// One compound score per customer message, -1.0 (furious) … 1.0 (delighted).
    pub scores: Vec<f32>,
}

impl Trajectory {
    /// A trajectory of these scores.
    pub fn new(scores: Vec<f32>) -> Self {
        Self { scores }
    }

    /// The scores logged with each understood customer message.
    pub fn from_events(events: &[Event]) -> Self {
        Self::new(
            events
                .iter()
                .filter_map(|e| match &e.kind {
                    EventKind::CommandsUnderstood { sentiment, .. } => *sentiment,
                    _ => None,
                })
                .collect(),
        )
    }

    /// The latest message's score (0 when there is none).
    pub fn current(&self) -> f32 {
        self.scores.last().copied().unwrap_or(0.0)
    }

    /// Slope of a least-squares line through the last `window` scores, per message: negative
    /// when the customer is getting angrier.
    pub fn trend(&self, window: usize) -> f32 {
        let tail = &self.scores[self.scores.len().saturating_sub(window)..];
        let n = tail.len() as f32;
        if tail.len() < 2 {
            return 0.0;
        }
        let mean_x = (n - 1.0) / 2.0;
        let mean_y = tail.iter().sum::<f32>() / n;
        let (mut num, mut den) = (0.0, 0.0);
        for (i, y) in tail.iter().enumerate() {
            let dx = i as f32 - mean_x;
            num += dx * (y - mean_y);
            den += dx * dx;
        }
        num / den
    }

    /// How many of the latest messages in a row were negative.
    pub fn negative_streak(&self) -> usize {
        self.scores
            .iter()
            .rev()
            .take_while(|s| **s <= NEGATIVE)
            .count()
    }

    /// Whether the last `window` messages fell, each lower than the one before, by at least
    /// `by` in all, to at or below `floor`. Two calm messages and a factual complaint
    /// (`0.00 → 0.00 → -0.42`) are not a decline.
    pub fn fell(&self, window: usize, by: f32, floor: f32) -> bool {
        self.fall(window)
            .is_some_and(|drop| drop >= by && self.current() <= floor)
    }

    /// How far the last `window` messages fell when each was lower than the one before; `None`
    /// when they did not (one held or rose), or there are fewer than `window` (at least 2).
    pub fn fall(&self, window: usize) -> Option<f32> {
        if window < 2 || self.scores.len() < window {
            return None;
        }
        let tail = &self.scores[self.scores.len() - window..];
        tail.windows(2)
            .all(|w| w[1] < w[0])
            .then(|| tail[0] - tail[window - 1])
    }

    /// The scores as a short arrow chain for humans (`0.00 → -0.45 → -0.80`).
    pub fn describe(&self) -> String {
        self.scores
            .iter()
            .map(|s| format!("{s:.2}"))
            .collect::<Vec<_>>()
            .join(" → ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trend_streak_and_fall() {
        let calm = Trajectory::new(vec![0.0, 0.2, 0.0]);
        assert!(!calm.fell(3, 0.4, -0.3));
        assert_eq!(calm.negative_streak(), 0);
        let souring = Trajectory::new(vec![0.1, -0.2, -0.45, -0.6]);
        assert!(souring.trend(4) < -0.2);
        assert_eq!(souring.negative_streak(), 3);
        assert!(souring.fell(3, 0.4, -0.3));
        // A rise in between is not a fall.
        assert!(!Trajectory::new(vec![0.1, -0.5, -0.2, -0.6]).fell(3, 0.4, -0.3));
        // Falling, but not far enough to be upset.
        assert!(!Trajectory::new(vec![0.8, 0.5, 0.1]).fell(3, 0.4, -0.3));
        // Calm, calm, then a factual complaint: no decline (each must be lower than the last).
        let complaint = Trajectory::new(vec![0.0, 0.0, -0.42]);
        assert!(!complaint.fell(3, 0.4, -0.3));
        assert_eq!(complaint.fall(3), None);
        assert_eq!(souring.fall(3).map(|d| (d * 100.0).round()), Some(40.0));
        assert_eq!(Trajectory::default().trend(4), 0.0);
        assert_eq!(
            Trajectory::new(vec![0.0, -0.456]).describe(),
            "0.00 → -0.46"
        );
    }
}
