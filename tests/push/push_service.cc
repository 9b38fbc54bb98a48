#include "tests/push/push_service.h"

#include <signal.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace notifyd::testing {
namespace {

std::string Unbase64Url(boost::json::string_view text) {
  std::string out;
  absl::WebSafeBase64Unescape(std::string(text), &out);
  return out;
}

}  // namespace

PushService::PushService(const TestCa& ca, PushServiceOptions options) {
  std::vector<std::string> argv = {
      "/usr/bin/python3",
      PUSH_SERVICE_SCRIPT,
      "--cert=" + ca.server_cert(),
      "--key=" + ca.server_key(),
      "--record=" + (dir_.path() / "received.jsonl").string(),
      absl::StrCat("--fail-first=", options.fail_first),
      absl::StrCat("--fail-status=", options.fail_status)};
  for (const std::string& path : options.gone_paths) {
    argv.push_back("--gone=" + path);
  }
  if (options.close_after_answer) argv.push_back("--close-after-answer");
  if (!options.retry_after.empty()) {
    argv.push_back("--retry-after=" + options.retry_after);
  }
  ChildOptions child;
  child.parent_death_signal = SIGKILL;
  process_ = std::make_unique<ChildProcess>(
      argv, (dir_.path() / "push_service.log").string(), child);
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    for (absl::string_view line : absl::StrSplit(Log(), '\n')) {
      if (!absl::StartsWith(line, "{\"port\"")) continue;
      boost::system::error_code ec;
      boost::json::value ready = boost::json::parse(std::string(line), ec);
      if (ec || !ready.is_object()) continue;
      const boost::json::object& o = ready.as_object();
      p256dh_ = Unbase64Url(o.at("p256dh").as_string());
      auth_ = Unbase64Url(o.at("auth").as_string());
      port_ = static_cast<int>(o.at("port").to_number<int64_t>());
      return;
    }
    if (process_->Wait(std::chrono::milliseconds(0)).has_value()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

PushService::~PushService() {
  process_->Signal(SIGTERM);
  if (!process_->Wait(std::chrono::seconds(5)).has_value()) {
    process_->Signal(SIGKILL);
  }
}

std::string PushService::Log() const { return process_->Log(); }

std::string PushService::origin() const {
  return absl::StrCat("https://127.0.0.1:", port_);
}

push::Subscription PushService::Subscribe(const std::string& path) const {
  return push::Subscription{
      .endpoint = origin() + path, .p256dh = p256dh_, .auth = auth_};
}

std::vector<boost::json::object> PushService::Received() const {
  std::ifstream in(dir_.path() / "received.jsonl");
  std::vector<boost::json::object> out;
  std::string line;
  while (std::getline(in, line)) {
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(line, ec);
    if (ec || !v.is_object()) break;  // a line being written
    out.push_back(std::move(v.as_object()));
  }
  return out;
}

std::vector<boost::json::object> PushService::WaitForReceived(
    size_t n, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<boost::json::object> received = Received();
  while (received.size() < n && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    received = Received();
  }
  return received;
}

std::string PayloadOf(const boost::json::object& request) {
  const boost::json::value* payload = request.if_contains("payload");
  if (payload == nullptr || !payload->is_string()) return "";
  return Unbase64Url(payload->as_string());
}

}  // namespace notifyd::testing
