//! A bounds-checked reader for device responses.
//!
//! Every read names the field it is reading, so a short or malformed response yields an error
//! that says what was missing and where, and no decoder ever indexes past the end of a buffer.

use crate::error::DecodeError;

/// Reads big-endian fields from a byte slice, never past its end.
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    /// Offset of the next byte to read.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left to read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.buf.len())
            .ok_or(DecodeError::Truncated {
                what,
                offset: self.pos,
                need: n,
                have: self.remaining(),
            })?;
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    /// Takes up to `n` bytes: fewer when the buffer ends first.
    pub fn take_up_to(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.remaining());
        let bytes = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        bytes
    }

    /// Skips `n` bytes.
    pub fn skip(&mut self, n: usize, what: &'static str) -> Result<(), DecodeError> {
        self.take(n, what).map(|_| ())
    }

    /// Reads one byte.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?[0])
    }

    /// Reads a big-endian 16-bit field.
    pub fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// Reads a big-endian 24-bit field.
    pub fn u24(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        let b = self.take(3, what)?;
        Ok(u32::from_be_bytes([0, b[0], b[1], b[2]]))
    }

    /// Reads a big-endian 32-bit field.
    pub fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_big_endian_fields_in_order() {
        let mut c = Cursor::new(&[0x01, 0x02, 0x03, 0x04, 0x05, 0x06]);
        assert_eq!(c.u8("a").unwrap(), 0x01);
        assert_eq!(c.u16("b").unwrap(), 0x0203);
        assert_eq!(c.u24("c").unwrap(), 0x040506);
        assert_eq!(c.remaining(), 0);
    }

    #[test]
    fn truncation_names_the_field_and_offset() {
        let mut c = Cursor::new(&[0x01]);
        assert_eq!(
            c.u16("page length"),
            Err(DecodeError::Truncated {
                what: "page length",
                offset: 0,
                need: 2,
                have: 1
            })
        );
    }

    #[test]
    fn huge_take_does_not_overflow() {
        let mut c = Cursor::new(&[0; 4]);
        c.skip(2, "x").unwrap();
        assert!(c.take(usize::MAX, "y").is_err());
        assert_eq!(c.take_up_to(usize::MAX).len(), 2);
    }
}
