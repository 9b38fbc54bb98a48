#include "bus/redis_url.h"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <charconv>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace notifyd::bus {
namespace {

constexpr char kExpected[] =
    "expected redis://[[user]:password@]host[:port][/db]";

absl::Status Invalid(absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("bus URL: ", what, " (", kExpected, ")"));
}

}  // namespace

std::string RedisEndpoint::HostPort() const {
  if (host.find(':') != std::string::npos) {
    return absl::StrCat("[", host, "]:", port);
  }
  return absl::StrCat(host, ":", port);
}

absl::StatusOr<RedisEndpoint> ParseRedisUrl(absl::string_view url) {
  boost::system::result<boost::urls::url_view> parsed =
      boost::urls::parse_uri(std::string_view(url.data(), url.size()));
  if (!parsed) return Invalid("not a URL");
  const boost::urls::url_view& u = *parsed;
  if (u.scheme() != "redis") return Invalid("the scheme must be redis://");
  if (!u.has_authority() || u.encoded_host().empty()) {
    return Invalid("no host");
  }
  if (u.has_query() || u.has_fragment()) {
    return Invalid("query and fragment are not supported");
  }
  RedisEndpoint endpoint;
  switch (u.host_type()) {
    case boost::urls::host_type::ipv6:
      endpoint.host = u.host_ipv6_address().to_string();
      break;
    case boost::urls::host_type::ipv4:
    case boost::urls::host_type::name:
      endpoint.host = u.host();
      break;
    default:
      return Invalid("unsupported host");
  }
  if (u.has_port()) {
    const std::string_view port = u.port();
    int value = 0;
    auto [end, ec] =
        std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value < 1 ||
        value > 65535) {
      return Invalid("the port must be 1-65535");
    }
    endpoint.port = value;
  }
  if (u.has_userinfo()) {
    endpoint.user = u.user();
    if (u.has_password()) endpoint.password = u.password();
    if (endpoint.password.empty()) {
      return Invalid("credentials need a password");
    }
  }
  std::string_view path = u.encoded_path();
  if (!path.empty() && path != "/") {
    path.remove_prefix(1);  // the leading '/'
    int db = 0;
    auto [end, ec] =
        std::from_chars(path.data(), path.data() + path.size(), db);
    if (ec != std::errc() || end != path.data() + path.size() || db < 0) {
      return Invalid("the database must be a number");
    }
    endpoint.db = db;
  }
  return endpoint;
}

}  // namespace notifyd::bus
