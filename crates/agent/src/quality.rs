//! The quality score stored in the log: judged by the rubric (`analytics::quality`) when a
//! conversation resolves (the bot resolved what the customer came for, or a person solved or
//! gave back the ticket), again when its survey is answered, and again on the earlier
//! conversation when the customer comes back within a week (a repeat contact). The latest
//! `quality_scored` stands.

use crate::pending::Pending;
use frontline_analytics::quality::{judge, Judging, QualitySettings};
use frontline_domain::{ConversationId, Event, EventKind};
use frontline_escalation::HandoffNotice;

/// The scorer's parts: the rubric's settings and the team's hours (a person's clock starts
/// when the team opens).
pub(crate) struct Scorer<'a> {
    pub settings: &'a QualitySettings,
    pub notice: &'a HandoffNotice,
}

impl Scorer<'_> {
    /// Judge the conversation (its log and what the operation gathered) and store the score.
    pub fn record(
        &self,
        pending: &Pending,
        log: &[Event],
        occasion: &str,
        came_back: Option<ConversationId>,
    ) {
        let events: Vec<Event> = log.iter().cloned().chain(pending.appended()).collect();
        let opens = |at| self.notice.clock_starts(at);
        let quality = judge(
            &events,
            &Judging {
                settings: self.settings,
                now: pending.now(),
                came_back,
                team_opens: Some(&opens),
            },
        );
        pending.log(EventKind::QualityScored {
            quality,
            occasion: occasion.to_string(),
        });
    }
}
