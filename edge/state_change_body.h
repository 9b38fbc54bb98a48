// The body of POST /v1/inbox/state (edge/inbox_api.h), read without the
// HTTP session or the store: its Content-Type, and its JSON parsed by a
// SAX handler into a storage::StateChange, so that a body of any size is
// read in one pass, in linear time and memory bounded by the ids it
// accepts. Pure functions: thread-safe. Fuzzed by tests/fuzz
// (fuzz_inbox_state).
#ifndef NOTIFYD_EDGE_STATE_CHANGE_BODY_H_
#define NOTIFYD_EDGE_STATE_CHANGE_BODY_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "storage/store.h"

namespace notifyd::edge {

// OK for "application/json", any case, with or without parameters
// ("; charset=utf-8"); FAILED_PRECONDITION (415) for anything else,
// a missing Content-Type included.
absl::Status CheckJsonContentType(absl::string_view content_type);

// The body of POST /v1/inbox/state, as a change of no channel yet (the
// caller sets it). A JSON object (UTF-8, RFC 8259, no comments) whose
// members are, each at most once:
//   "ids": an array of at most storage::kMaxChangeIds positive integers
//          (no fraction, no exponent, at most 2^64 - 1);
//   "up_to_id": a positive integer;
//   "seen": true;  "read": true|false;  "archived": true|false.
// At least one of ids (non-empty) and up_to_id, and at least one flag.
// Any other member, value type or repeat is INVALID_ARGUMENT with a message
// naming it; text that is not JSON is INVALID_ARGUMENT "malformed JSON: …".
// Bodies are at most kMaxInboxStateBodyBytes (the session refuses larger
// ones before reading them), but any size parses in linear time and
// memory bounded by the ids it accepts.
absl::StatusOr<storage::StateChange> ParseStateChange(absl::string_view body);

}  // namespace notifyd::edge

#endif  // NOTIFYD_EDGE_STATE_CHANGE_BODY_H_
