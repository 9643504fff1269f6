//! Integration tests of the state crate: committed format-v1 snapshots (`fixtures`), key group
//! arithmetic (`key_groups`) and keyed value state restored across parallelism changes (`keyed`).

mod fixtures;
mod key_groups;
mod keyed;
