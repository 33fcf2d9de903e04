//! The sync protocol's decisions, without a socket or a clock of their own:
//! what the agent sends up and when, which acknowledgement moves the
//! anchor, and whether an HQ command is applied. The agent (`agent.rs`)
//! runs them against rumqttc and the store; the deterministic simulation
//! (`tests/tests/suite/sync_sim.rs`) runs the same code against a model of the
//! broker, the bridge instances and HQ's receiver, under thousands of
//! seeded faults.
use protocol::sync::UpAck;

use crate::store::ChainHead;

/// Limits of one batch and the timers of the up stream (ms).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub batch_max_events: usize,
    pub linger_ms: u64,
    pub ack_timeout_ms: u64,
}

/// What the sender should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Nothing (offline, nothing new, lingering, or waiting for the ack).
    Wait,
    /// Send the batch starting at `first`, of at most `max_events`.
    Send { first: u64, max_events: usize },
    /// The batch in flight was not acknowledged in time: send it again.
    Resend { first: u64, last: u64 },
}

/// The batch waiting for its acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InFlight {
    pub first: u64,
    pub last: u64,
    sent_ms: u64,
}

/// The up stream's sender: one batch in flight, starting right after the
/// anchor (the last event HQ acknowledged), sent again until acknowledged.
#[derive(Debug, Clone, Default)]
pub struct UpSender {
    online: bool,
    in_flight: Option<InFlight>,
    /// Since when a backlog smaller than a batch has waited (linger).
    backlog_since_ms: Option<u64>,
    /// After a reconnection, until HQ's first acknowledgement: how long a
    /// batch waits before it is sent again (from [`PROBE_FIRST_MS`],
    /// doubling up to the ack timeout). The first copy may have reached
    /// the broker before any bridge instance was subscribed again (after a
    /// broker restart the instances reconnect too), and a broker drops
    /// what no one is subscribed to: waiting the whole ack timeout for it
    /// would hold the store's stream for nothing.
    probe_ms: Option<u64>,
}

/// The first wait for an acknowledgement after a reconnection.
pub const PROBE_FIRST_MS: u64 = 1000;

impl UpSender {
    pub fn online(&self) -> bool {
        self.online
    }

    pub fn in_flight(&self) -> Option<InFlight> {
        self.in_flight
    }

    /// The link is up. Whatever was in flight may be lost with the old
    /// connection (rumqttc drops its retries when the session is new): it
    /// is due again at once.
    pub fn connected(&mut self, now_ms: u64, limits: &Limits) {
        self.online = true;
        self.probe_ms = Some(PROBE_FIRST_MS);
        if let Some(f) = &mut self.in_flight {
            f.sent_ms = now_ms.saturating_sub(limits.ack_timeout_ms);
        }
    }

    pub fn disconnected(&mut self) {
        self.online = false;
    }

    /// Decide, given the anchor and the durable head.
    pub fn next(&mut self, now_ms: u64, anchor: u64, head: u64, limits: &Limits) -> Next {
        if !self.online {
            return Next::Wait;
        }
        if let Some(f) = self.in_flight {
            let timeout = self
                .probe_ms
                .map_or(limits.ack_timeout_ms, |p| p.min(limits.ack_timeout_ms));
            if now_ms.saturating_sub(f.sent_ms) >= timeout {
                return Next::Resend {
                    first: f.first,
                    last: f.last,
                };
            }
            return Next::Wait;
        }
        if head <= anchor {
            self.backlog_since_ms = None;
            return Next::Wait;
        }
        let since = *self.backlog_since_ms.get_or_insert(now_ms);
        if ((head - anchor) as usize) < limits.batch_max_events
            && now_ms.saturating_sub(since) < limits.linger_ms
        {
            return Next::Wait;
        }
        Next::Send {
            first: anchor + 1,
            max_events: limits.batch_max_events,
        }
    }

    /// The batch `first..=last` was handed to the link.
    pub fn sent(&mut self, first: u64, last: u64, now_ms: u64) {
        self.in_flight = Some(InFlight {
            first,
            last,
            sent_ms: now_ms,
        });
        self.backlog_since_ms = None;
    }

    /// The batch in flight was handed to the link again.
    pub fn resent(&mut self, now_ms: u64) {
        if let Some(f) = &mut self.in_flight {
            f.sent_ms = now_ms;
        }
        self.probe_ms = self.probe_ms.map(|p| p.saturating_mul(2));
    }

    /// The anchor is now `anchor`: whether that settles the batch in
    /// flight (then the next one is due without linger).
    pub fn acked(&mut self, anchor: u64, now_ms: u64, limits: &Limits) -> bool {
        self.probe_ms = None;
        match self.in_flight {
            Some(f) if anchor >= f.last => {
                self.in_flight = None;
                self.backlog_since_ms = Some(now_ms.saturating_sub(limits.linger_ms));
                true
            }
            _ => false,
        }
    }
}

/// What an acknowledgement from HQ does to the anchor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckOutcome {
    /// Move the anchor here.
    Advance(ChainHead),
    /// A late copy of an older acknowledgement: nothing.
    Stale,
    /// Not something HQ can have sent for this log: refused, nothing moves.
    Refused(String),
}

/// Check `ack` against the log (`anchor`, the durable `head`, the chain
/// hash of an entry): the anchor moves only to an event the log holds,
/// with the hash it has.
pub fn check_ack(
    ack: &UpAck,
    anchor: u64,
    head: u64,
    hash_at: impl FnOnce(u64) -> Option<[u8; 32]>,
) -> AckOutcome {
    if ack.last_seq <= anchor {
        return AckOutcome::Stale;
    }
    if ack.last_seq > head {
        return AckOutcome::Refused(format!(
            "acknowledges log {} but the log ends at {head}",
            ack.last_seq
        ));
    }
    match hash_at(ack.last_seq) {
        None => AckOutcome::Refused("acknowledges an event the log does not hold".into()),
        Some(h) if h != ack.last_hash.0 => AckOutcome::Refused(format!(
            "acknowledges log {} with a hash the log does not have for it",
            ack.last_seq
        )),
        Some(hash) => AckOutcome::Advance(ChainHead {
            seq: ack.last_seq,
            hash,
        }),
    }
}

/// What to do with an HQ command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Down {
    /// At or below the HQ floor: applied long ago (the inbox forgot it).
    Repeat { floor: u64 },
    /// Decide it: new, or answered from the inbox if it was applied.
    Decide,
}

/// An HQ command with `hq_seq`, given the store's HQ floor.
pub fn down(hq_seq: u64, floor: u64) -> Down {
    if hq_seq <= floor {
        Down::Repeat { floor }
    } else {
        Down::Decide
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limits = Limits {
        batch_max_events: 10,
        linger_ms: 50,
        ack_timeout_ms: 1000,
    };

    #[test]
    fn one_batch_in_flight_sent_again_until_acknowledged() {
        let mut s = UpSender::default();
        assert_eq!(s.next(0, 0, 5, &L), Next::Wait, "offline");
        s.connected(0, &L);
        assert_eq!(
            s.next(0, 0, 5, &L),
            Next::Wait,
            "lingers for a small backlog"
        );
        assert_eq!(
            s.next(60, 0, 5, &L),
            Next::Send {
                first: 1,
                max_events: 10
            }
        );
        s.sent(1, 5, 60);
        assert_eq!(s.next(500, 0, 9, &L), Next::Wait, "one in flight");
        assert_eq!(s.next(1060, 0, 9, &L), Next::Resend { first: 1, last: 5 });
        s.resent(1060);
        assert!(!s.acked(3, 1100, &L), "a partial anchor settles nothing");
        assert!(s.acked(5, 1100, &L));
        assert_eq!(
            s.next(1100, 5, 9, &L),
            Next::Send {
                first: 6,
                max_events: 10
            },
            "the next batch without linger"
        );
        s.sent(6, 9, 1100);
        s.disconnected();
        s.connected(1200, &L);
        assert_eq!(s.next(1200, 5, 9, &L), Next::Resend { first: 6, last: 9 });
    }

    #[test]
    fn after_a_reconnection_a_batch_is_sent_again_sooner_until_hq_answers() {
        let l = Limits {
            ack_timeout_ms: 10_000,
            ..L
        };
        let mut s = UpSender::default();
        s.connected(0, &l);
        s.sent(1, 5, 0);
        assert_eq!(s.next(999, 0, 5, &l), Next::Wait);
        assert_eq!(
            s.next(1000, 0, 5, &l),
            Next::Resend { first: 1, last: 5 },
            "1 s after a reconnection, not the ack timeout"
        );
        s.resent(1000);
        assert_eq!(s.next(2999, 0, 5, &l), Next::Wait, "then 2 s");
        assert_eq!(s.next(3000, 0, 5, &l), Next::Resend { first: 1, last: 5 });
        s.resent(3000);
        assert!(s.acked(5, 3100, &l));
        s.sent(6, 9, 3100);
        assert_eq!(
            s.next(3100 + 9_999, 5, 9, &l),
            Next::Wait,
            "once HQ answered, the ack timeout again"
        );
        assert_eq!(
            s.next(3100 + 10_000, 5, 9, &l),
            Next::Resend { first: 6, last: 9 }
        );
    }

    #[test]
    fn an_acknowledgement_moves_the_anchor_only_to_what_the_log_holds() {
        let store_id = protocol::StoreId::new("s").expect("valid");
        let ack = |seq, h| UpAck {
            store_id: store_id.clone(),
            last_seq: seq,
            last_hash: protocol::ChainHash([h; 32]),
        };
        let hash = |s: u64| Some([s as u8; 32]);
        assert_eq!(check_ack(&ack(3, 3), 5, 9, hash), AckOutcome::Stale);
        assert!(matches!(
            check_ack(&ack(10, 10), 5, 9, hash),
            AckOutcome::Refused(_)
        ));
        assert!(matches!(
            check_ack(&ack(7, 1), 5, 9, hash),
            AckOutcome::Refused(_)
        ));
        assert_eq!(
            check_ack(&ack(7, 7), 5, 9, hash),
            AckOutcome::Advance(ChainHead {
                seq: 7,
                hash: [7; 32]
            })
        );
        assert_eq!(down(4, 4), Down::Repeat { floor: 4 });
        assert_eq!(down(5, 4), Down::Decide);
    }
}
