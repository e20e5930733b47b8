//! Tables of recipients, read without I/O: CSV or JSON uploads into rows with every bad row
//! reported by its true line ([`table`]). Data sets keep them ([`crate::store::datasets`]);
//! `tessera seal` reads its recipient lists with the same reader.

pub mod table;

/// Data-set names: 1 to 64 letters, digits, `-` or `_` (they appear in paths and templates).
pub fn valid_set_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
