//! The vsock packet header's vocabulary and the rules a packet from the
//! guest must follow before the muxer acts on it. Parsing from descriptor
//! chains is virtio-vsock's `VsockPacket`; this module adds the policy:
//! who may send to whom, and which types exist.

use virtio_vsock::packet::{PKT_HEADER_SIZE, VsockPacket};
use vm_memory::bitmap::BitmapSlice;

/// The host's CID, the only peer a guest may address.
pub const HOST_CID: u64 = 2;
pub const TYPE_STREAM: u16 = 1;

pub const OP_REQUEST: u16 = 1;
pub const OP_RESPONSE: u16 = 2;
pub const OP_RST: u16 = 3;
pub const OP_SHUTDOWN: u16 = 4;
pub const OP_RW: u16 = 5;
pub const OP_CREDIT_UPDATE: u16 = 6;
pub const OP_CREDIT_REQUEST: u16 = 7;

/// SHUTDOWN flags: the sender will receive / send no more.
pub const SHUTDOWN_RCV: u32 = 1;
pub const SHUTDOWN_SEND: u32 = 2;

/// Largest payload a guest may put in one packet (Linux uses 64 KiB).
pub const MAX_PKT_DATA: u32 = 64 * 1024;

/// The header fields of a packet from the guest, copied out of guest
/// memory once so later checks cannot be raced by the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestHeader {
    pub src_cid: u64,
    pub dst_cid: u64,
    pub src_port: u32,
    pub dst_port: u32,
    pub len: u32,
    pub type_: u16,
    pub op: u16,
    pub flags: u32,
    pub buf_alloc: u32,
    pub fwd_cnt: u32,
}

impl GuestHeader {
    pub fn of<B: BitmapSlice>(pkt: &VsockPacket<'_, B>) -> Self {
        GuestHeader {
            src_cid: pkt.src_cid(),
            dst_cid: pkt.dst_cid(),
            src_port: pkt.src_port(),
            dst_port: pkt.dst_port(),
            len: pkt.len(),
            type_: pkt.type_(),
            op: pkt.op(),
            flags: pkt.flags(),
            buf_alloc: pkt.buf_alloc(),
            fwd_cnt: pkt.fwd_cnt(),
        }
    }
}

/// What to do with a packet that broke the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Act on it.
    Accept,
    /// Answer with a reset (the guest can tell that stream failed).
    Reset(&'static str),
    /// Drop silently (never answer a reset with a reset).
    Drop(&'static str),
}

/// Checks addressing and type for a packet from a guest with `guest_cid`.
pub fn check(h: &GuestHeader, guest_cid: u64) -> Verdict {
    let bad = |why| {
        if h.op == OP_RST { Verdict::Drop(why) } else { Verdict::Reset(why) }
    };
    if h.src_cid != guest_cid {
        // A spoofed source cannot be answered meaningfully.
        return Verdict::Drop("source CID is not the guest's");
    }
    if h.dst_cid != HOST_CID {
        return bad("destination is not the host");
    }
    if h.type_ != TYPE_STREAM {
        return bad("only stream sockets are supported");
    }
    if !(OP_REQUEST..=OP_CREDIT_REQUEST).contains(&h.op) {
        return bad("unknown operation");
    }
    if h.op != OP_RW && h.len != 0 {
        return bad("payload on a control packet");
    }
    Verdict::Accept
}

/// A packet for the guest, minus its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostHeader {
    pub src_port: u32,
    pub dst_port: u32,
    pub op: u16,
    pub flags: u32,
    pub len: u32,
    pub buf_alloc: u32,
    pub fwd_cnt: u32,
}

/// Fills an rx packet's header (the payload, if any, is already written).
/// Returns the bytes used in the chain.
pub fn write_header<B: BitmapSlice>(pkt: &mut VsockPacket<'_, B>, guest_cid: u64, h: &HostHeader) -> u32 {
    pkt.set_src_cid(HOST_CID)
        .set_dst_cid(guest_cid)
        .set_src_port(h.src_port)
        .set_dst_port(h.dst_port)
        .set_type(TYPE_STREAM)
        .set_op(h.op)
        .set_flags(h.flags)
        .set_len(h.len)
        .set_buf_alloc(h.buf_alloc)
        .set_fwd_cnt(h.fwd_cnt);
    PKT_HEADER_SIZE as u32 + h.len
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(op: u16) -> GuestHeader {
        GuestHeader {
            src_cid: 3,
            dst_cid: HOST_CID,
            src_port: 1000,
            dst_port: 52,
            len: 0,
            type_: TYPE_STREAM,
            op,
            flags: 0,
            buf_alloc: 1,
            fwd_cnt: 0,
        }
    }

    #[test]
    fn addressing_and_type_rules() {
        assert_eq!(check(&h(OP_REQUEST), 3), Verdict::Accept);
        assert!(matches!(check(&h(OP_REQUEST), 4), Verdict::Drop(_)), "spoofed source");
        assert!(matches!(check(&GuestHeader { dst_cid: 7, ..h(OP_REQUEST) }, 3), Verdict::Reset(_)));
        assert!(matches!(check(&GuestHeader { dst_cid: 7, ..h(OP_RST) }, 3), Verdict::Drop(_)));
        assert!(matches!(check(&GuestHeader { type_: 2, ..h(OP_RW) }, 3), Verdict::Reset(_)));
        assert!(matches!(check(&h(0), 3), Verdict::Reset(_)));
        assert!(matches!(check(&h(99), 3), Verdict::Reset(_)));
        assert!(matches!(check(&GuestHeader { len: 5, ..h(OP_REQUEST) }, 3), Verdict::Reset(_)));
        assert_eq!(check(&GuestHeader { len: 5, ..h(OP_RW) }, 3), Verdict::Accept);
    }
}
