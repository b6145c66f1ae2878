//! Field paths of a policy: `email`, `shipping_address.postal_code`,
//! `addresses[].line1`, `tags[]`, `properties.note`, any depth; and `cf_*`,
//! every custom field of the stream.
//!
//! Grammar: a path is a field name followed by any number of `.name` (a
//! field of the object) and `[]` (each item of the array). A name is any
//! non-empty text without `.`, `[`, `]` or `*`; the one name with a `*` is
//! a whole path `cf_*`.

use std::fmt;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The field of that name of an object.
    Field(Box<str>),
    /// Each item of an array.
    Items,
}

/// A parsed field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldPath {
    /// A path to a field: starts with a [`Step::Field`].
    Steps(Vec<Step>),
    /// `cf_*`: every top-level custom field, including fields added to the
    /// account later.
    AllCustomFields,
}

/// The text that means every custom field.
pub const ALL_CUSTOM_FIELDS: &str = "cf_*";

/// The prefix of the API's custom fields on records.
pub const CUSTOM_FIELD_PREFIX: &str = "cf_";

impl FieldPath {
    /// Parses `text`; the error says what is wrong with it, for a person.
    pub fn parse(text: &str) -> Result<FieldPath, String> {
        if text == ALL_CUSTOM_FIELDS {
            return Ok(FieldPath::AllCustomFields);
        }
        if text.contains('*') {
            return Err(format!(
                "\"*\" is only allowed in \"{ALL_CUSTOM_FIELDS}\" (every custom field)"
            ));
        }
        let mut steps = Vec::new();
        let mut rest = text;
        // The first step is a name; each later one starts with `.` or `[]`.
        let mut expect_name = true;
        while !rest.is_empty() || expect_name {
            if expect_name {
                let end = rest.find(['.', '[', ']']).unwrap_or(rest.len());
                if end == 0 {
                    return Err(if steps.is_empty() {
                        "a path starts with a field name".to_owned()
                    } else {
                        "a \".\" must be followed by a field name".to_owned()
                    });
                }
                steps.push(Step::Field(rest[..end].into()));
                rest = &rest[end..];
                expect_name = false;
            } else if let Some(after) = rest.strip_prefix("[]") {
                steps.push(Step::Items);
                rest = after;
            } else if let Some(after) = rest.strip_prefix('.') {
                rest = after;
                expect_name = true;
            } else {
                return Err(
                    "after a field name comes \".name\" or \"[]\" (each item of an array)"
                        .to_owned(),
                );
            }
        }
        Ok(FieldPath::Steps(steps))
    }

    /// The top-level field the path starts at (`None` for `cf_*`).
    pub fn top_field(&self) -> Option<&str> {
        match self {
            FieldPath::Steps(steps) => match steps.first() {
                Some(Step::Field(name)) => Some(name),
                _ => None,
            },
            FieldPath::AllCustomFields => None,
        }
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldPath::AllCustomFields => f.write_str(ALL_CUSTOM_FIELDS),
            FieldPath::Steps(steps) => {
                for (i, step) in steps.iter().enumerate() {
                    match step {
                        Step::Field(name) if i == 0 => f.write_str(name)?,
                        Step::Field(name) => write!(f, ".{name}")?,
                        Step::Items => f.write_str("[]")?,
                    }
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str) -> Step {
        Step::Field(name.into())
    }

    fn steps(text: &str) -> Vec<Step> {
        match FieldPath::parse(text).unwrap() {
            FieldPath::Steps(steps) => steps,
            FieldPath::AllCustomFields => panic!("{text} is not cf_*"),
        }
    }

    #[test]
    fn a_top_level_field_is_one_step() {
        assert_eq!(steps("email"), [field("email")]);
    }

    #[test]
    fn a_dotted_path_reaches_into_objects() {
        assert_eq!(
            steps("shipping_address.postal_code"),
            [field("shipping_address"), field("postal_code")]
        );
    }

    #[test]
    fn brackets_reach_each_item_of_an_array() {
        assert_eq!(
            steps("addresses[].line1"),
            [field("addresses"), Step::Items, field("line1")]
        );
    }

    #[test]
    fn a_path_may_end_at_the_items_of_an_array() {
        assert_eq!(steps("tags[]"), [field("tags"), Step::Items]);
    }

    #[test]
    fn paths_nest_to_any_depth() {
        assert_eq!(
            steps("a[][].b.c[].d"),
            [
                field("a"),
                Step::Items,
                Step::Items,
                field("b"),
                field("c"),
                Step::Items,
                field("d")
            ]
        );
    }

    #[test]
    fn a_custom_field_is_a_plain_name() {
        assert_eq!(steps("cf_loyalty_tier"), [field("cf_loyalty_tier")]);
    }

    #[test]
    fn cf_star_means_every_custom_field() {
        assert_eq!(
            FieldPath::parse("cf_*").unwrap(),
            FieldPath::AllCustomFields
        );
        assert_eq!(FieldPath::AllCustomFields.to_string(), "cf_*");
    }

    #[test]
    fn a_path_prints_as_it_was_written() {
        for text in ["email", "a.b", "addresses[].line1", "tags[]", "a[][].b"] {
            assert_eq!(FieldPath::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn malformed_paths_say_what_is_wrong() {
        for (text, why) in [
            ("", "starts with a field name"),
            (".email", "starts with a field name"),
            ("[]", "starts with a field name"),
            ("a.", "followed by a field name"),
            ("a..b", "followed by a field name"),
            ("a[0]", "\"[]\""),
            ("a[", "\"[]\""),
            ("a]b", "\"[]\""),
            ("a.*", "only allowed in \"cf_*\""),
            ("cf_x*", "only allowed in \"cf_*\""),
        ] {
            let error = FieldPath::parse(text).unwrap_err();
            assert!(error.contains(why), "{text:?}: {error}");
        }
    }
}
