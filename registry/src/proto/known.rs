//! The files a Protobuf schema may import without a `references` entry, as in
//! Confluent: Google's well-known types (`google/protobuf/*.proto`, served by
//! protox), the common types under `google/type/` and Confluent's own
//! `confluent/meta.proto` and `confluent/type/decimal.proto`. The `google/type` and
//! `confluent` files are written here with the published messages' names, fields
//! and numbers (what the wire and the compatibility checks see); their comments
//! are not reproduced.

/// Source text of a known file other than `google/protobuf/*`.
pub fn source(name: &str) -> Option<&'static str> {
    Some(match name {
        "google/type/calendar_period.proto" => {
            "syntax = \"proto3\";\npackage google.type;\n\nenum CalendarPeriod {\n  CALENDAR_PERIOD_UNSPECIFIED = 0;\n  DAY = 1;\n  WEEK = 2;\n  FORTNIGHT = 3;\n  MONTH = 4;\n  QUARTER = 5;\n  HALF = 6;\n  YEAR = 7;\n}\n"
        }
        "google/type/color.proto" => {
            "syntax = \"proto3\";\npackage google.type;\n\nimport \"google/protobuf/wrappers.proto\";\n\nmessage Color {\n  float red = 1;\n  float green = 2;\n  float blue = 3;\n  google.protobuf.FloatValue alpha = 4;\n}\n"
        }
        "google/type/date.proto" => {
            "syntax = \"proto3\";\npackage google.type;\n\nmessage Date {\n  int32 year = 1;\n  int32 month = 2;\n  int32 day = 3;\n}\n"
        }
        "google/type/datetime.proto" => {
            "syntax = \"proto3\";\npackage google.type;\n\nimport \"google/protobuf/duration.proto\";\n\nmessage DateTime {\n  int32 year = 1;\n  int32 month = 2;\n  int32 day = 3;\n  int32 hours = 4;\n  int32 minutes = 5;\n  int32 seconds = 6;\n  int32 nanos = 7;\n  oneof time_offset {\n    google.protobuf.Duration utc_offset = 8;\n    TimeZone time_zone = 9;\n  }\n}\n\nmessage TimeZone {\n  string id = 1;\n  string version = 2;\n}\n"
        }
        "google/type/dayofweek.proto" => {
            "syntax = \"proto3\";\npackage google.type;\n\nenum DayOfWeek {\n  DAY_OF_WEEK_UNSPECIFIED = 0;\n  MONDAY = 1;\n  TUESDAY = 2;\n  WEDNESDAY = 3;\n  THURSDAY = 4;\n  FRIDAY = 5;\n  SATURDAY = 6;\n  SUNDAY = 7;\n}\n"
        }
        "google/type/decimal.proto" => {
            "syntax = \"proto3\";\npackage google.type;\n\nmessage Decimal {\n  string value = 1;\n}\n"
        }
        "google/type/expr.proto" => {
            "syntax = \"proto3\";\npackage google.type;\n\nmessage Expr {\n  string expression = 1;\n  string title = 2;\n  string description = 3;\n  string location = 4;\n}\n"
        }
        "google/type/fraction.proto" => {
            "syntax = \"proto3\";\npackage google.type;\n\nmessage Fraction {\n  int64 numerator = 1;\n  int64 denominator = 2;\n}\n"
        }
        "google/type/interval.proto" => {
            "syntax = \"proto3\";\npackage google.type;\n\nimport \"google/protobuf/timestamp.proto\";\n\nmessage Interval {\n  google.protobuf.Timestamp start_time = 1;\n  google.protobuf.Timestamp end_time = 2;\n}\n"
        }
        "google/type/latlng.proto" => {
            "syntax = \"proto3\";\npackage google.type;\n\nmessage LatLng {\n  double latitude = 1;\n  double longitude = 2;\n}\n"
        }
        "google/type/money.proto" => {
            "syntax = \"proto3\";\npackage google.type;\n\nmessage Money {\n  string currency_code = 1;\n  int64 units = 2;\n  int32 nanos = 3;\n}\n"
        }
        "google/type/month.proto" => {
            "syntax = \"proto3\";\npackage google.type;\n\nenum Month {\n  MONTH_UNSPECIFIED = 0;\n  JANUARY = 1;\n  FEBRUARY = 2;\n  MARCH = 3;\n  APRIL = 4;\n  MAY = 5;\n  JUNE = 6;\n  JULY = 7;\n  AUGUST = 8;\n  SEPTEMBER = 9;\n  OCTOBER = 10;\n  NOVEMBER = 11;\n  DECEMBER = 12;\n}\n"
        }
        "google/type/phone_number.proto" => {
            "syntax = \"proto3\";\npackage google.type;\n\nmessage PhoneNumber {\n  oneof kind {\n    string e164_number = 1;\n    ShortCode short_code = 2;\n  }\n  string extension = 3;\n\n  message ShortCode {\n    string region_code = 1;\n    string number = 2;\n  }\n}\n"
        }
        "google/type/postal_address.proto" => {
            "syntax = \"proto3\";\npackage google.type;\n\nmessage PostalAddress {\n  int32 revision = 1;\n  string region_code = 2;\n  string language_code = 3;\n  string postal_code = 4;\n  string sorting_code = 5;\n  string administrative_area = 6;\n  string locality = 7;\n  string sublocality = 8;\n  repeated string address_lines = 9;\n  repeated string recipients = 10;\n  string organization = 11;\n}\n"
        }
        "google/type/quaternion.proto" => {
            "syntax = \"proto3\";\npackage google.type;\n\nmessage Quaternion {\n  double x = 1;\n  double y = 2;\n  double z = 3;\n  double w = 4;\n}\n"
        }
        "google/type/timeofday.proto" => {
            "syntax = \"proto3\";\npackage google.type;\n\nmessage TimeOfDay {\n  int32 hours = 1;\n  int32 minutes = 2;\n  int32 seconds = 3;\n  int32 nanos = 4;\n}\n"
        }
        "confluent/type/decimal.proto" => {
            "syntax = \"proto3\";\npackage confluent.type;\n\nmessage Decimal {\n  bytes value = 1;\n  uint32 precision = 2;\n  int32 scale = 3;\n}\n"
        }
        "confluent/meta.proto" => {
            "syntax = \"proto3\";\npackage confluent;\n\nimport \"google/protobuf/descriptor.proto\";\n\nmessage Meta {\n  string doc = 1;\n  map<string, string> params = 2;\n  repeated string tags = 3;\n}\n\nextend google.protobuf.FileOptions {\n  Meta file_meta = 1088;\n}\nextend google.protobuf.MessageOptions {\n  Meta message_meta = 1088;\n}\nextend google.protobuf.FieldOptions {\n  Meta field_meta = 1088;\n}\nextend google.protobuf.EnumOptions {\n  Meta enum_meta = 1088;\n}\nextend google.protobuf.EnumValueOptions {\n  Meta enum_value_meta = 1088;\n}\n"
        }
        _ => return None,
    })
}
