//! Integration tests of the state crate: key group arithmetic (`key_groups`) and keyed value
//! state restored across parallelism changes (`keyed`).

mod key_groups;
mod keyed;
