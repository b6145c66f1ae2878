//! Names, contact details and addresses.

use super::words;
use crate::model::Address;
use crate::rng::Rng;

/// A person's name and derived contact details.
pub(crate) struct Person {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: Option<String>,
}

/// A person; `ordinal` makes the email unique.
pub(crate) fn person(rng: &mut Rng, ordinal: u64) -> Person {
    let first = rng.pick(words::FIRST_NAMES);
    let last = rng.pick(words::LAST_NAMES);
    let domain = rng.pick(words::EMAIL_DOMAINS);
    // Unique by the ordinal; names contain no dots, so no two records collide.
    let email = format!(
        "{}.{}{ordinal}@{domain}",
        ascii_fold(first),
        ascii_fold(last)
    );
    let phone = (!rng.chance(0.3)).then(|| format!("+1555{:07}", rng.below(10_000_000)));
    Person {
        first_name: first.to_owned(),
        last_name: last.to_owned(),
        email,
        phone,
    }
}

/// An address of the given type (`billing` or `shipping`).
pub(crate) fn address(rng: &mut Rng, kind: &str) -> Address {
    let (city, region, postal_pattern, country) = rng.pick(words::CITIES);
    let postal_code = postal_pattern
        .chars()
        .map(|c| {
            if c == '#' {
                char::from(b'0' + rng.below(10) as u8)
            } else {
                c
            }
        })
        .collect();
    Address {
        kind: kind.to_owned(),
        line1: format!("{} {}", rng.between(1, 999), rng.pick(words::STREETS)),
        line2: rng.chance(0.3).then(|| rng.pick(words::LINE2).to_owned()),
        city: city.to_owned(),
        region: region.map(str::to_owned),
        postal_code,
        country: country.to_owned(),
    }
}

/// Lower-case ASCII for an email local part: drops accents and apostrophes.
fn ascii_fold(name: &str) -> String {
    name.chars()
        .filter_map(|c| {
            let folded = match c {
                'à' | 'á' | 'â' | 'ä' | 'å' => 'a',
                'é' | 'è' | 'ê' | 'ë' => 'e',
                'í' | 'ì' | 'î' | 'ï' => 'i',
                'ó' | 'ò' | 'ô' | 'ö' | 'ø' => 'o',
                'ú' | 'ù' | 'û' | 'ü' => 'u',
                'ñ' => 'n',
                'ç' => 'c',
                'ß' => 's',
                c if c.is_ascii_alphanumeric() => c.to_ascii_lowercase(),
                _ => return None,
            };
            Some(folded.to_ascii_lowercase())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_plain_ascii() {
        assert_eq!(ascii_fold("Müller"), "muller");
        assert_eq!(ascii_fold("O'Brien"), "obrien");
        for i in 0..500 {
            let p = person(&mut Rng::new(i), i);
            assert!(p.email.is_ascii(), "{}", p.email);
            assert!(p.email.contains(&format!("{i}@")));
        }
    }

    #[test]
    fn postal_codes_follow_their_pattern() {
        for i in 0..200 {
            let a = address(&mut Rng::new(i), "billing");
            assert!(!a.postal_code.contains('#'));
            assert_eq!(a.kind, "billing");
        }
    }
}
