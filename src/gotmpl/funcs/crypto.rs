//! Hashes, and the functions whose real results are random or secret:
//! here they are fixed values of the right shape, so renders repeat.

use std::collections::BTreeMap;

use super::args::{string, to_int};
use super::{Outcome, Problem};
use crate::gotmpl::Value;

pub(super) fn sha256sum(a: &[Value]) -> Outcome {
    Ok(Value::Str(
        crate::digest::Sha256::of(string(a, 0)?.as_bytes()).hex(),
    ))
}

/// SHA-1 (FIPS 180-4), for `sha1sum`: checksum annotations use it.
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0];
    let mut message = data.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in message.chunks(64) {
        let mut w = [0u32; 80];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([block[4 * i], block[4 * i + 1], block[4 * i + 2], block[4 * i + 3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, word) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*word);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (slot, add) in h.iter_mut().zip([a, b, c, d, e]) {
            *slot = slot.wrapping_add(add);
        }
    }
    let mut out = [0u8; 20];
    for (i, word) in h.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&word.to_be_bytes());
    }
    out
}

pub(super) fn sha1sum(a: &[Value]) -> Outcome {
    Ok(Value::Str(hex::encode(sha1(string(a, 0)?.as_bytes()))))
}

pub(super) fn adler32sum(a: &[Value]) -> Outcome {
    let (mut x, mut y) = (1u32, 0u32);
    for byte in string(a, 0)?.bytes() {
        x = (x + u32::from(byte)) % 65521;
        y = (y + x) % 65521;
    }
    Ok(Value::Str(((y << 16) | x).to_string()))
}

fn length(a: &[Value]) -> usize {
    usize::try_from(to_int(&a[0])).unwrap_or(0).min(4096)
}

/// Fixed letters, as many as asked (`randAlpha`, `randAlphaNum`, `randAscii`).
pub(super) fn rand_alpha(a: &[Value]) -> Outcome {
    Ok(Value::Str(
        (0..length(a))
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect(),
    ))
}

pub(super) fn rand_numeric(a: &[Value]) -> Outcome {
    Ok(Value::Str(
        (0..length(a))
            .map(|i| char::from(b'0' + (i % 10) as u8))
            .collect(),
    ))
}

pub(super) fn rand_bytes(a: &[Value]) -> Outcome {
    use base64::Engine as _;
    Ok(Value::Str(
        base64::engine::general_purpose::STANDARD.encode(vec![0u8; length(a)]),
    ))
}

/// `randInt MIN MAX` is MIN.
pub(super) fn rand_int(a: &[Value]) -> Outcome {
    let (low, high) = (to_int(&a[0]), to_int(&a[1]));
    if high <= low {
        return Err(Problem::bad(1, &a[1], "invalid argument to Intn"));
    }
    Ok(Value::Int(low))
}

pub(super) fn uuidv4(_: &[Value]) -> Outcome {
    Ok(Value::from("00000000-0000-4000-8000-000000000000"))
}

const BCRYPT: &str = "$2a$10$matrixfixedsaltmatrixuBrenderedDeterministicallyXXXXX";

pub(super) fn bcrypt(a: &[Value]) -> Outcome {
    string(a, 0)?;
    Ok(Value::from(BCRYPT))
}

pub(super) fn htpasswd(a: &[Value]) -> Outcome {
    let user = string(a, 0)?;
    string(a, 1)?;
    if user.contains(':') {
        return Ok(Value::Str(format!("invalid username: {user}")));
    }
    Ok(Value::Str(format!("{user}:{BCRYPT}")))
}

pub(super) fn derive_password(a: &[Value]) -> Outcome {
    string(a, 4)?;
    Ok(Value::from("placeholder"))
}

const KEY: &str = "-----BEGIN RSA PRIVATE KEY-----\nplaceholder\n-----END RSA PRIVATE KEY-----\n";
const CERT: &str = "-----BEGIN CERTIFICATE-----\nplaceholder\n-----END CERTIFICATE-----\n";

pub(super) fn private_key(a: &[Value]) -> Outcome {
    string(a, 0)?;
    Ok(Value::from(KEY))
}

/// `genCA`, `genSelfSignedCert`, `genSignedCert` and their `WithKey`
/// forms: a certificate dict with placeholder PEM.
pub(super) fn cert(_: &[Value]) -> Outcome {
    Ok(Value::map(BTreeMap::from([
        ("Cert".to_string(), Value::from(CERT)),
        ("Key".to_string(), Value::from(KEY)),
    ])))
}

pub(super) fn custom_cert(a: &[Value]) -> Outcome {
    Ok(Value::map(BTreeMap::from([
        ("Cert".to_string(), Value::Str(string(a, 0)?.to_string())),
        ("Key".to_string(), Value::Str(string(a, 1)?.to_string())),
    ])))
}

/// `encryptAES` gives its input base64-encoded; `decryptAES` reverses it.
pub(super) fn encrypt_aes(a: &[Value]) -> Outcome {
    use base64::Engine as _;
    string(a, 0)?;
    Ok(Value::Str(
        base64::engine::general_purpose::STANDARD.encode(string(a, 1)?),
    ))
}

pub(super) fn decrypt_aes(a: &[Value]) -> Outcome {
    use base64::Engine as _;
    string(a, 0)?;
    Ok(Value::Str(
        base64::engine::general_purpose::STANDARD
            .decode(string(a, 1)?)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default(),
    ))
}

/// No network: no address.
pub(super) fn host_by_name(a: &[Value]) -> Outcome {
    string(a, 0)?;
    Ok(Value::Str(String::new()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn sha1_matches_the_standard_vectors() {
        assert_eq!(
            hex::encode(super::sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex::encode(super::sha1(b"")),
            "da39a3ee5e6b4b0d3255bfef95601890afd80709"
        );
    }
}
