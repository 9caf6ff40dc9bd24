//! Base64 as the API server decodes a Secret's `data`: Go's `encoding/base64` standard
//! encoding (padded), which skips `\r` and `\n` anywhere, and reports the first bad input as
//! `illegal base64 data at input byte N`, N counted as Go counts it (the start of an
//! incomplete final quantum, the position of a bad character or bad padding).

/// The offset Go's decoder reports for `s`, or `None` when `s` decodes.
pub fn error_offset(s: &str) -> Option<usize> {
    let src = s.as_bytes();
    let mut si = 0;
    while si < src.len() {
        match quantum(src, si) {
            Ok(Some(next)) => si = next,
            Ok(None) => return None,
            Err(offset) => return Some(offset),
        }
    }
    None
}

fn is_alphabet(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/'
}

fn skip_newlines(src: &[u8], mut si: usize) -> usize {
    while si < src.len() && (src[si] == b'\n' || src[si] == b'\r') {
        si += 1;
    }
    si
}

/// One 4-character quantum from `si` (Go's `decodeQuantum`): the next position, `None` at
/// the end of input, or the offset of the error.
fn quantum(src: &[u8], mut si: usize) -> Result<Option<usize>, usize> {
    let mut j = 0;
    while j < 4 {
        if si == src.len() {
            // Padded encoding: a partial quantum at the end is an error at its start.
            return if j == 0 { Ok(None) } else { Err(si - j) };
        }
        let c = src[si];
        si += 1;
        if is_alphabet(c) {
            j += 1;
            continue;
        }
        if c == b'\n' || c == b'\r' {
            continue;
        }
        if c != b'=' {
            return Err(si - 1);
        }
        // Padding: only after two or three characters of a quantum.
        match j {
            0 | 1 => return Err(si - 1),
            2 => {
                si = skip_newlines(src, si);
                if si == src.len() {
                    return Err(src.len());
                }
                if src[si] != b'=' {
                    return Err(si - 1);
                }
                si += 1;
            }
            _ => {}
        }
        si = skip_newlines(src, si);
        // Anything after the padding is trailing garbage.
        return if si < src.len() { Err(si) } else { Ok(None) };
    }
    Ok(Some(si))
}

#[cfg(test)]
mod tests {
    use super::error_offset;

    #[test]
    fn offsets_match_gos_decoder() {
        // Valid, with and without padding and with the newlines Go skips.
        for ok in ["", "YWJj", "YWI=", "YQ==", "YWJj\nZGVm", "YWJj\r\nYQ=="] {
            assert_eq!(error_offset(ok), None, "{ok:?}");
        }
        // The recorded reports: "admin", "billy" and "wombat" fail at byte 4 (issue 7817 and
        // 31548 of kubernetes/kubernetes); a `$` at the start at byte 0.
        assert_eq!(error_offset("admin"), Some(4));
        assert_eq!(error_offset("billy"), Some(4));
        assert_eq!(error_offset("wombat"), Some(4));
        assert_eq!(error_offset("${PASSWORD_B64}"), Some(0));
        assert_eq!(error_offset("YQ="), Some(3));
        assert_eq!(error_offset("YQ==YQ=="), Some(4));
        assert_eq!(error_offset("Y==="), Some(1));
        assert_eq!(error_offset("ab!d"), Some(2));
    }
}
