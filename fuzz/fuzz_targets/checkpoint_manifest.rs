//! The checkpoint manifest decoder on arbitrary bytes: `Manifest::decode` must return a value
//! or an error for any input, never panic, and whatever it accepts must encode back to the same
//! bytes. When the first byte is odd, the rest becomes the body of a manifest with a valid
//! header and checksum, so that inputs reach the body decoder rather than stopping at the CRC.
//!
//! Run: `cargo +nightly fuzz run checkpoint_manifest` from `fuzz/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_checkpoint::manifest::{Manifest, MANIFEST_MAGIC, MANIFEST_VERSION};

fuzz_target!(|data: &[u8]| {
    let bytes = match data.split_first() {
        Some((flag, body)) if flag & 1 == 1 => {
            let mut bytes = MANIFEST_MAGIC.to_vec();
            bytes.extend_from_slice(&MANIFEST_VERSION.to_le_bytes());
            bytes.extend_from_slice(&(body.len() as u32).to_le_bytes());
            bytes.extend_from_slice(body);
            let crc = crc32c::crc32c(&bytes);
            bytes.extend_from_slice(&crc.to_le_bytes());
            bytes
        }
        _ => data.to_vec(),
    };
    if let Ok(manifest) = Manifest::decode(&bytes, "fuzz/_manifest") {
        let again = Manifest::decode(&manifest.encode(), "fuzz/_manifest").unwrap();
        assert_eq!(again, manifest);
    }
});
