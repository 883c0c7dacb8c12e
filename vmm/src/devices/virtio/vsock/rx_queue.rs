//! The two queues of what waits for the guest's rx buffers: control packets
//! (everything but data) and the connections that may have host data.
//!
//! Owns their bounds. A guest chooses how many packets it posts that earn a
//! reset and how many rx buffers it gives back, so nothing here may grow
//! with what the guest sends: resets for streams that no longer exist are
//! capped at [`MAX_QUEUED_RESETS`] (Firecracker's muxer rx queue size; past
//! it Firecracker drops the reset too, as a full rx queue of resets leaves
//! nowhere to keep one), every other control packet belongs to a live
//! connection and is queued at most once (a set tells membership in O(1)),
//! so both queues are bounded by the connection table. It must never drop a
//! control packet of a live connection: that one would stall the stream.

use std::collections::{HashSet, VecDeque};

use super::packet::OP_RST;

/// Firecracker's `MUXER_RXQ_SIZE`.
pub const MAX_QUEUED_RESETS: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnKey {
    pub local_port: u32,
    pub peer_port: u32,
}

/// A control packet for the guest (everything but data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Control {
    pub key: ConnKey,
    pub op: u16,
    pub flags: u32,
}

/// Control packets in the order they were queued, each at most once.
#[derive(Default)]
pub struct ControlQueue {
    order: VecDeque<Control>,
    members: HashSet<Control>,
    resets: usize,
    dropped_resets: u64,
}

impl ControlQueue {
    /// Queues `c` unless the same packet already waits. A reset past
    /// [`MAX_QUEUED_RESETS`] is dropped (and counted).
    pub fn push(&mut self, c: Control) {
        if self.members.contains(&c) {
            return;
        }
        if c.op == OP_RST {
            if self.resets >= MAX_QUEUED_RESETS {
                self.dropped_resets += 1;
                if self.dropped_resets.is_power_of_two() {
                    tracing::debug!(dropped = self.dropped_resets, "vsock: reset queue full; resets dropped");
                }
                return;
            }
            self.resets += 1;
        }
        self.members.insert(c);
        self.order.push_back(c);
    }

    pub fn pop(&mut self) -> Option<Control> {
        let c = self.order.pop_front()?;
        self.members.remove(&c);
        if c.op == OP_RST {
            self.resets -= 1;
        }
        Some(c)
    }

    /// Drops every packet queued for `key` (its stream ended). Linear in the
    /// queue, which the bounds above keep small.
    pub fn forget(&mut self, key: ConnKey) {
        let members = &mut self.members;
        let resets = &mut self.resets;
        self.order.retain(|c| {
            if c.key != key {
                return true;
            }
            members.remove(c);
            if c.op == OP_RST {
                *resets -= 1;
            }
            false
        });
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn clear(&mut self) {
        self.order.clear();
        self.members.clear();
        self.resets = 0;
    }
}

/// Connections that may have host data for the guest, each at most once.
#[derive(Default)]
pub struct ReadyQueue {
    order: VecDeque<ConnKey>,
    members: HashSet<ConnKey>,
}

impl ReadyQueue {
    pub fn push_back(&mut self, key: ConnKey) {
        if self.members.insert(key) {
            self.order.push_back(key);
        }
    }

    pub fn push_front(&mut self, key: ConnKey) {
        if self.members.insert(key) {
            self.order.push_front(key);
        }
    }

    pub fn pop_front(&mut self) -> Option<ConnKey> {
        let key = self.order.pop_front()?;
        self.members.remove(&key);
        Some(key)
    }

    pub fn remove(&mut self, key: ConnKey) {
        if self.members.remove(&key) {
            self.order.retain(|k| *k != key);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &ConnKey> {
        self.order.iter()
    }

    pub fn clear(&mut self) {
        self.order.clear();
        self.members.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::super::packet::{OP_CREDIT_UPDATE, OP_RESPONSE};
    use super::*;

    fn key(p: u32) -> ConnKey {
        ConnKey { local_port: 52, peer_port: p }
    }

    #[test]
    fn resets_are_capped_other_controls_deduplicated() {
        let mut q = ControlQueue::default();
        for p in 0..10_000 {
            q.push(Control { key: key(p), op: OP_RST, flags: 0 });
        }
        assert_eq!(q.len(), MAX_QUEUED_RESETS);
        q.push(Control { key: key(1), op: OP_RESPONSE, flags: 0 });
        q.push(Control { key: key(1), op: OP_RESPONSE, flags: 0 });
        q.push(Control { key: key(1), op: OP_CREDIT_UPDATE, flags: 0 });
        assert_eq!(q.len(), MAX_QUEUED_RESETS + 2, "a live stream's controls pass a full reset queue, once each");
        q.forget(key(1));
        assert_eq!(q.len(), MAX_QUEUED_RESETS - 1);
        // Draining makes room for resets again.
        assert_eq!(q.pop().map(|c| c.key), Some(key(0)));
        q.push(Control { key: key(20_000), op: OP_RST, flags: 0 });
        q.push(Control { key: key(20_001), op: OP_RST, flags: 0 });
        assert_eq!(q.len(), MAX_QUEUED_RESETS);
    }

    #[test]
    fn ready_keys_are_queued_once() {
        let mut r = ReadyQueue::default();
        r.push_back(key(1));
        r.push_back(key(2));
        r.push_back(key(1));
        r.push_front(key(2));
        assert_eq!(r.iter().count(), 2);
        r.remove(key(1));
        assert_eq!(r.pop_front(), Some(key(2)));
        assert_eq!(r.pop_front(), None);
        r.push_back(key(1));
        assert_eq!(r.pop_front(), Some(key(1)));
    }
}
