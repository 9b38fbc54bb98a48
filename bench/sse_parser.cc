#include "bench/sse_parser.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace notifyd::bench {

namespace {

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

bool SseParser::Feed(std::string_view bytes, Listener* listener) {
  if (phase_ == Phase::kHead && !FeedHead(&bytes, listener)) return false;
  if (phase_ != Phase::kBody || bytes.empty()) return true;
  if (chunked_) return FeedChunked(bytes, listener);
  FeedSse(bytes, listener);
  return true;
}

bool SseParser::FeedHead(std::string_view* bytes, Listener* listener) {
  size_t old = pending_.size();
  pending_.append(bytes->data(), bytes->size());
  size_t end = pending_.find("\r\n\r\n", old >= 3 ? old - 3 : 0);
  if (end == std::string::npos) {
    if (pending_.size() > 64 * 1024) {
      error_ = "response header block over 64 KiB";
      return false;
    }
    bytes->remove_prefix(bytes->size());
    return true;
  }
  std::string_view head(pending_.data(), end);
  // "HTTP/1.1 200 OK"
  int status = 0;
  if (head.size() < 12 || head.substr(0, 5) != "HTTP/" ||
      std::from_chars(head.data() + 9, head.data() + 12, status).ec !=
          std::errc()) {
    error_ = "malformed status line";
    return false;
  }
  size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos < head.size()) {
    size_t next = head.find("\r\n", pos + 2);
    std::string_view line = head.substr(pos + 2, next == std::string_view::npos
                                                     ? std::string_view::npos
                                                     : next - pos - 2);
    size_t colon = line.find(':');
    if (colon != std::string_view::npos &&
        IEquals(Trim(line.substr(0, colon)), "transfer-encoding") &&
        Trim(line.substr(colon + 1)).find("chunked") !=
            std::string_view::npos) {
      chunked_ = true;
    }
    pos = next;
  }
  size_t consumed_from_input = end + 4 - old;
  bytes->remove_prefix(consumed_from_input);
  pending_.clear();
  phase_ = Phase::kBody;
  listener->OnHeaders(status);
  return true;
}

bool SseParser::FeedChunked(std::string_view bytes, Listener* listener) {
  while (!bytes.empty() && !ended_) {
    switch (chunk_state_) {
      case ChunkState::kSize: {
        size_t nl = bytes.find('\n');
        if (nl == std::string_view::npos) {
          pending_.append(bytes);
          if (pending_.size() > 1024) {
            error_ = "chunk-size line too long";
            return false;
          }
          return true;
        }
        pending_.append(bytes.substr(0, nl));
        bytes.remove_prefix(nl + 1);
        std::string_view size_line = Trim(pending_);
        size_t semi = size_line.find(';');  // chunk extensions
        if (semi != std::string_view::npos)
          size_line = size_line.substr(0, semi);
        uint64_t size = 0;
        auto [p, ec] = std::from_chars(
            size_line.data(), size_line.data() + size_line.size(), size, 16);
        if (ec != std::errc() || size_line.empty()) {
          error_ = "malformed chunk size";
          return false;
        }
        pending_.clear();
        if (size == 0) {
          ended_ = true;
          return true;
        }
        chunk_left_ = size;
        chunk_state_ = ChunkState::kData;
        break;
      }
      case ChunkState::kData: {
        size_t n = std::min<uint64_t>(chunk_left_, bytes.size());
        FeedSse(bytes.substr(0, n), listener);
        bytes.remove_prefix(n);
        chunk_left_ -= n;
        if (chunk_left_ == 0) chunk_state_ = ChunkState::kDataCrlf;
        break;
      }
      case ChunkState::kDataCrlf: {
        // Skips the CRLF after the chunk data, which may arrive split.
        size_t nl = bytes.find('\n');
        if (nl == std::string_view::npos) return true;
        bytes.remove_prefix(nl + 1);
        chunk_state_ = ChunkState::kSize;
        break;
      }
    }
  }
  return true;
}

void SseParser::FeedSse(std::string_view bytes, Listener* listener) {
  while (!bytes.empty()) {
    size_t nl = bytes.find('\n');
    if (nl == std::string_view::npos) {
      pending_.append(bytes);
      return;
    }
    if (pending_.empty()) {
      Line(bytes.substr(0, nl), listener);  // common case: no copy
    } else {
      pending_.append(bytes.substr(0, nl));
      Line(pending_, listener);
      pending_.clear();
    }
    bytes.remove_prefix(nl + 1);
  }
}

void SseParser::Line(std::string_view line, Listener* listener) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.empty()) {
    if (has_data_) listener->OnEvent(id_, event_, data_);
    event_.clear();
    data_.clear();
    has_data_ = false;
    return;
  }
  if (line.front() == ':') return;  // comment: ": connected", ": ping"
  size_t colon = line.find(':');
  std::string_view field = line.substr(0, colon);
  std::string_view value;
  if (colon != std::string_view::npos) {
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (has_data_) data_ += '\n';
    data_.append(value);
    has_data_ = true;
  } else if (field == "id") {
    id_.assign(value);
  } else if (field == "event") {
    event_.assign(value);
  }
}

}  // namespace notifyd::bench
