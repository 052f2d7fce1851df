//! Closed sets of values stored as strings (`"moved_out"`, `"hazard"`).
//!
//! [`string_enum!`](crate::string_enum) defines such an enum once and derives everything from that one list: the
//! text form used in documents, JSON and the wire, parsing with an error that names the allowed
//! values, the autosurgeon mapping, and each value's label for people in Chinese and English
//! (required by the macro's syntax, so no code can lack one; [`crate::vocab`] gathers them
//! into the one vocabulary every user-facing place reads). An unknown value in a document is a
//! validation error, never a panic.

/// A string value that is not one of an enum's variants.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown value `{value}`, expected one of: {expected}")]
pub struct UnknownVariant {
    /// The value that was found.
    pub value: String,
    /// The allowed values, comma separated.
    pub expected: &'static str,
}

/// Defines a string-valued enum, each value with its stored text and its labels for people
/// (Chinese, English): `string_enum! { pub enum Status { Active = "active" ["在册", "on
/// record"], ... } }`.
#[macro_export]
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal [$zh:literal, $en:literal] ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The allowed texts, comma separated (for error messages).
            pub const EXPECTED: &'static str = concat!($($text, ", "),+);

            /// Every value's stored text and labels (Chinese, English), in declaration order.
            pub const LABELS: &'static [$crate::vocab::Entry] = &[
                $($crate::vocab::Entry { code: $text, zh: $zh, en: $en }),+
            ];

            /// The stored text of this value.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// This value's label in Chinese, as a street office writes it.
            pub const fn label_zh(self) -> &'static str {
                match self {
                    $($name::$variant => $zh),+
                }
            }

            /// This value's label in English.
            pub const fn label_en(self) -> &'static str {
                match self {
                    $($name::$variant => $en),+
                }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::enums::UnknownVariant;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err($crate::enums::UnknownVariant {
                        value: other.chars().take(64).collect(),
                        expected: Self::EXPECTED.trim_end_matches(", "),
                    }),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <::std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(::serde::de::Error::custom)
            }
        }

        impl $crate::schema::__schemars::JsonSchema for $name {
            fn schema_name() -> ::std::borrow::Cow<'static, str> {
                ::std::borrow::Cow::Borrowed(stringify!($name))
            }
            fn schema_id() -> ::std::borrow::Cow<'static, str> {
                ::std::borrow::Cow::Borrowed(concat!(module_path!(), "::", stringify!($name)))
            }
            fn json_schema(
                _: &mut $crate::schema::__schemars::SchemaGenerator,
            ) -> $crate::schema::__schemars::Schema {
                $crate::schema::string_enum_schema(Self::LABELS)
            }
        }

        impl ::autosurgeon::Reconcile for $name {
            type Key<'a> = ::autosurgeon::reconcile::NoKey;
            fn reconcile<R: ::autosurgeon::Reconciler>(&self, mut reconciler: R) -> Result<(), R::Error> {
                reconciler.str(self.as_str())
            }
        }
    };
}

#[cfg(test)]
#[allow(dead_code)]
mod tests {
    string_enum! {
        /// A test enum.
        pub enum Colour { Red = "red" ["红", "red"], DarkBlue = "dark_blue" ["深蓝", "dark blue"] }
    }

    #[test]
    fn text_round_trips_and_unknown_values_name_the_choices() {
        assert_eq!("dark_blue".parse::<Colour>().unwrap(), Colour::DarkBlue);
        assert_eq!(Colour::Red.to_string(), "red");
        let err = "green".parse::<Colour>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown value `green`, expected one of: red, dark_blue"
        );
        let json = serde_json::to_string(&Colour::DarkBlue).unwrap();
        assert_eq!(json, "\"dark_blue\"");
    }
}
