//! The tap's state: `{"bookmarks": {<stream>: <blob>}}`, the `value` of the
//! last `STATE` a loader confirmed, which Meltano stores and passes back with
//! `--state`. Each blob is the Airbyte side's per-stream state, unchanged.

use std::path::Path;

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::state::{InputState, read_state_file};

/// The bookmarks of every stream, selected or not.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Bookmarks(pub Map<String, Value>);

impl Bookmarks {
    /// Reads `--state`; no flag, an empty file, `null` and `{}` mean none.
    pub fn load(path: Option<&Path>) -> Result<Bookmarks> {
        match read_state_file(path)? {
            Some(value) => Bookmarks::from_value(value),
            None => Ok(Bookmarks::default()),
        }
    }

    /// Accepts `{"bookmarks": {...}}`, `{}` and `null`.
    pub fn from_value(value: Value) -> Result<Bookmarks> {
        let mut object = match value {
            Value::Null => return Ok(Bookmarks::default()),
            Value::Object(object) => object,
            _ => return Err(invalid("it is not a JSON object")),
        };
        match object.remove("bookmarks") {
            None | Some(Value::Null) if object.is_empty() => Ok(Bookmarks::default()),
            None | Some(Value::Null) => Err(invalid("it has no \"bookmarks\" object")),
            Some(Value::Object(bookmarks)) => Ok(Bookmarks(bookmarks)),
            Some(_) => Err(invalid("its \"bookmarks\" is not an object")),
        }
    }

    /// The bookmarks as the read path's input state (one blob per stream).
    pub fn input_state(&self) -> Result<InputState> {
        InputState::from_value(Value::Object(self.0.clone()))
    }
}

fn invalid(why: &str) -> Error {
    Error::config(format!(
        "Invalid state: {why}; a Singer state is {{\"bookmarks\": {{<stream>: {{...}}}}}}. Fix or clear the state (meltano state clear) to continue."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bookmarks_become_the_read_paths_per_stream_state() {
        let bookmarks = Bookmarks::from_value(
            json!({"bookmarks": {"orders": {"cursor": "2024-03-01T10:00:00Z"}}}),
        )
        .unwrap();
        let state = bookmarks.input_state().unwrap();
        let orders = state.stream("orders").unwrap().unwrap();
        assert_eq!(
            orders.cursor.unwrap().to_rfc3339(),
            "2024-03-01T10:00:00+00:00"
        );
        assert_eq!(state.stream("customers").unwrap(), None);
    }

    #[test]
    fn no_state_and_an_empty_object_mean_no_bookmarks() {
        assert_eq!(
            Bookmarks::from_value(json!({})).unwrap(),
            Bookmarks::default()
        );
        assert_eq!(
            Bookmarks::from_value(Value::Null).unwrap(),
            Bookmarks::default()
        );
        assert_eq!(Bookmarks::load(None).unwrap(), Bookmarks::default());
    }

    #[test]
    fn a_state_without_bookmarks_is_a_config_error_saying_the_shape() {
        let error = Bookmarks::from_value(json!({"orders": {}})).unwrap_err();
        assert_eq!(error.failure_type(), crate::protocol::FailureType::Config);
        assert!(error.message().contains("bookmarks"), "{}", error.message());
        assert!(Bookmarks::from_value(json!({"bookmarks": []})).is_err());
        assert!(Bookmarks::from_value(json!([1])).is_err());
    }
}
