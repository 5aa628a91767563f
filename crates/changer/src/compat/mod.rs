//! Byte compatibility with the stock mtx-changer script: the mtx status lines it reads and the
//! awk rules it applies to them.

pub mod awk;
pub mod mtx_text;
