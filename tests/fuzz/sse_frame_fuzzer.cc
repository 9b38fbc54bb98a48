// Property: whatever the id, event name and payload, an encoded frame read
// back by a WHATWG event-stream parser is exactly one event with that id,
// that event name and that payload (line breaks normalized to LF, as
// EventSource does). So no payload can forge a field or a second event.
// Event names the encoder refuses (CR, LF, NUL) must be refused.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "edge/sse_frame.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

struct Event {
  std::string id, type, data;
};

// The "event stream interpretation" of the HTML standard, for one stream.
std::vector<Event> Parse(const std::string& stream) {
  std::vector<Event> out;
  std::string last_id, type, data;
  bool has_data = false;
  size_t pos = 0;
  while (pos < stream.size()) {
    size_t end = stream.find_first_of("\r\n", pos);
    if (end == std::string::npos) break;  // an unterminated line is dropped
    std::string line = stream.substr(pos, end - pos);
    pos = end + 1;
    if (stream[end] == '\r' && pos < stream.size() && stream[pos] == '\n') {
      ++pos;
    }
    if (line.empty()) {  // dispatch
      if (has_data) {
        if (!data.empty() && data.back() == '\n') data.pop_back();
        out.push_back({last_id, type, data});
      }
      type.clear();
      data.clear();
      has_data = false;
      continue;
    }
    if (line[0] == ':') continue;
    size_t colon = line.find(':');
    std::string field = line.substr(0, colon);
    std::string value =
        colon == std::string::npos ? "" : line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.erase(0, 1);
    if (field == "event") {
      type = value;
    } else if (field == "data") {
      data += value;
      data += '\n';
      has_data = true;
    } else if (field == "id") {
      if (value.find('\0') == std::string::npos) last_id = value;
    }
  }
  return out;
}

std::string NormalizeNewlines(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r') {
      out += '\n';
      if (i + 1 < s.size() && s[i + 1] == '\n') ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  FuzzedDataProvider in(bytes, size);
  uint64_t id = in.ConsumeIntegral<uint64_t>();
  std::string event = in.ConsumeRandomLengthString(128);
  std::string data = in.ConsumeRemainingBytesAsString();

  auto frame = notifyd::edge::EncodeEvent(id, event, data);
  bool bad_event =
      event.find_first_of(std::string("\r\n\0", 3)) != std::string::npos;
  FUZZ_CHECK(frame.ok() != bad_event);
  if (!frame.ok()) return 0;

  // After a preamble and before a ping, as on the wire.
  std::string stream = absl::StrCat(notifyd::edge::EncodePreamble(2000), *frame,
                                    notifyd::edge::PingFrame()->bytes);
  std::vector<Event> events = Parse(stream);
  FUZZ_CHECK(events.size() == 1);
  FUZZ_CHECK(events[0].id == absl::StrCat(id));
  FUZZ_CHECK(events[0].type == event);
  FUZZ_CHECK(events[0].data == NormalizeNewlines(data));
  return 0;
}
