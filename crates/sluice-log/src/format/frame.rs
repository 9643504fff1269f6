//! Checksummed frames: `len u32 | crc32c u32 | payload`, where `len` counts the crc and the
//! payload and the crc covers the payload.
//!
//! Checking a frame is the first step of every read (mini-redis' check-then-parse): it tells
//! whether a whole, intact frame is in the buffer without decoding or allocating anything.

/// Bytes a frame adds around its payload.
pub const FRAME_OVERHEAD: usize = 8;

/// What [`check_frame`] found at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameCheck {
    /// A whole frame of `len` bytes (overhead included) whose checksum matches.
    Complete {
        /// Total frame length in bytes.
        len: usize,
    },
    /// The buffer ends before the frame does: a torn tail, or a tail still being written.
    /// `needed` is the frame's total length when the length field was readable.
    Incomplete {
        /// Total frame length, if known.
        needed: Option<usize>,
    },
    /// The bytes cannot be a frame: impossible length or checksum mismatch.
    Corrupt {
        /// What is wrong.
        reason: &'static str,
        /// Total frame length the length field claims (to tell a damaged last frame from a
        /// damaged middle one).
        claimed_len: usize,
    },
}

/// Checks the frame at the start of `buf`; `max_len` bounds the length field.
#[must_use]
pub fn check_frame(buf: &[u8], max_len: usize) -> FrameCheck {
    let Some(len_bytes) = buf.get(..4) else {
        return FrameCheck::Incomplete { needed: None };
    };
    let mut len4 = [0u8; 4];
    len4.copy_from_slice(len_bytes);
    let body_len = u32::from_le_bytes(len4) as usize;
    let total = body_len.saturating_add(4);
    if body_len < 4 || total > max_len {
        return FrameCheck::Corrupt { reason: "impossible frame length", claimed_len: total };
    }
    let Some(body) = buf.get(4..total) else {
        return FrameCheck::Incomplete { needed: Some(total) };
    };
    let (crc_bytes, payload) = body.split_at(4);
    let mut crc4 = [0u8; 4];
    crc4.copy_from_slice(crc_bytes);
    if u32::from_le_bytes(crc4) != crc32c::crc32c(payload) {
        return FrameCheck::Corrupt { reason: "checksum mismatch", claimed_len: total };
    }
    FrameCheck::Complete { len: total }
}

/// Starts a frame in `out`: reserves the length and crc fields. Returns the frame's start.
pub(crate) fn begin_frame(out: &mut Vec<u8>) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0u8; FRAME_OVERHEAD]);
    start
}

/// Finishes the frame begun at `start`: fills in its length and checksum.
///
/// Returns `None` if the frame is longer than `u32::MAX` bytes.
pub(crate) fn end_frame(out: &mut [u8], start: usize) -> Option<()> {
    let body_len = u32::try_from(out.len() - start - 4).ok()?;
    let crc = crc32c::crc32c(out.get(start + FRAME_OVERHEAD..)?);
    out.get_mut(start..start + 4)?.copy_from_slice(&body_len.to_le_bytes());
    out.get_mut(start + 4..start + 8)?.copy_from_slice(&crc.to_le_bytes());
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        let s = begin_frame(&mut v);
        v.extend_from_slice(payload);
        end_frame(&mut v, s).unwrap();
        v
    }

    #[test]
    fn complete_incomplete_corrupt() {
        let f = frame(b"hello");
        assert_eq!(check_frame(&f, 1 << 20), FrameCheck::Complete { len: 13 });
        assert_eq!(check_frame(&f[..12], 1 << 20), FrameCheck::Incomplete { needed: Some(13) });
        assert_eq!(check_frame(&f[..3], 1 << 20), FrameCheck::Incomplete { needed: None });
        let mut bad = f.clone();
        bad[10] ^= 0xff;
        assert!(matches!(check_frame(&bad, 1 << 20), FrameCheck::Corrupt { .. }));
        assert!(matches!(check_frame(&[0u8; 16], 1 << 20), FrameCheck::Corrupt { .. }));
        assert!(matches!(check_frame(&f, 8), FrameCheck::Corrupt { .. }));
    }
}
