#include "storage/postgres_connection.h"

#include <libpq-fe.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "common/log.h"

namespace notifyd::storage {
namespace {

// Type OIDs from the server's pg_type catalog; fixed since PostgreSQL 7.
constexpr Oid kBoolOid = 16;
constexpr Oid kByteaOid = 17;
constexpr Oid kInt8Oid = 20;
constexpr Oid kInt2Oid = 21;
constexpr Oid kInt4Oid = 23;
constexpr Oid kTextOid = 25;
constexpr Oid kInt8ArrayOid = 1016;
constexpr Oid kTextArrayOid = 1009;

constexpr char kSqlStatePayload[] = "notifyd.postgres/sqlstate";

// Where the password of a postgres:// URL sits, as [begin, end) offsets;
// begin == end when there is none. Covers user:password@host and the
// ?password= parameter.
std::vector<std::pair<size_t, size_t>> PasswordSpans(absl::string_view url) {
  std::vector<std::pair<size_t, size_t>> spans;
  const size_t scheme = url.find("://");
  if (scheme == absl::string_view::npos) return spans;
  const size_t start = scheme + 3;
  const size_t query = url.find_first_of("?#", start);
  const size_t authority_end =
      query == absl::string_view::npos ? url.size() : query;
  // The last '@' before the query: a password may contain '@' unencoded.
  const size_t at = url.substr(0, authority_end).rfind('@');
  if (at != absl::string_view::npos && at >= start) {
    const size_t colon = url.substr(0, at).find(':', start);
    if (colon != absl::string_view::npos) spans.emplace_back(colon + 1, at);
  }
  for (size_t p = url.find("password=", start); p != absl::string_view::npos;
       p = url.find("password=", p + 1)) {
    if (p == 0 || (url[p - 1] != '?' && url[p - 1] != '&')) continue;
    const size_t begin = p + std::strlen("password=");
    const size_t end = std::min(url.find('&', begin), url.size());
    spans.emplace_back(begin, end);
  }
  return spans;
}

// libpq's message (several lines, some indented) as one line.
std::string OneLine(absl::string_view message) {
  std::string text(absl::StripTrailingAsciiWhitespace(message));
  return absl::StrReplaceAll(text, {{"\n\t", " "}, {"\n", "; "}});
}

// OneLine(message), never containing the password.
std::string CleanMessage(absl::string_view message, absl::string_view url) {
  std::string text = OneLine(message);
  for (const auto& [begin, end] : PasswordSpans(url)) {
    if (end > begin &&
        absl::StrContains(text, url.substr(begin, end - begin))) {
      return "the URL is malformed (details withheld: they contain the "
             "password)";
    }
  }
  return text;
}

void LogNotice(void*, const char* message) {
  Log(spdlog::level::debug, "postgres notice",
      {{"notice", absl::StripTrailingAsciiWhitespace(message)}});
}

absl::StatusCode CodeFor(absl::string_view sqlstate, bool broken) {
  // Class 08: connection exception; 57P0x: the server is shutting down or
  // restarting; 53: out of disk, memory or connections. All may pass.
  if (broken || absl::StartsWith(sqlstate, "08") ||
      absl::StartsWith(sqlstate, "57P") || absl::StartsWith(sqlstate, "53")) {
    return absl::StatusCode::kUnavailable;
  }
  return absl::StatusCode::kInternal;
}

std::string BigEndian(uint64_t value, int bytes) {
  std::string out(bytes, '\0');
  for (int i = bytes - 1; i >= 0; --i) {
    out[i] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
  return out;
}

uint64_t FromBigEndian(const char* data, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) {
    value = (value << 8) | static_cast<unsigned char>(data[i]);
  }
  return value;
}

// An array literal ({"a","b"}) with each element quoted, so commas, braces,
// quotes and backslashes inside an element stay data.
std::string TextArrayLiteral(const std::vector<std::string>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

}  // namespace

std::string PgSqlState(const absl::Status& status) {
  absl::optional<absl::Cord> state = status.GetPayload(kSqlStatePayload);
  return state ? std::string(*state) : std::string();
}

std::string RedactPostgresUrl(absl::string_view url) {
  std::string out(url);
  std::vector<std::pair<size_t, size_t>> spans = PasswordSpans(url);
  // From the end, so earlier offsets stay valid.
  std::sort(spans.rbegin(), spans.rend());
  for (const auto& [begin, end] : spans) out.replace(begin, end - begin, "***");
  return out;
}

PgParam PgParam::Int(int64_t value) {
  PgParam p(kInt8Oid, 1);
  p.owned_ = true;
  p.value_ = BigEndian(static_cast<uint64_t>(value), 8);
  return p;
}

PgParam PgParam::Bool(bool value) {
  PgParam p(kBoolOid, 1);
  p.owned_ = true;
  p.value_ = std::string(1, value ? '\1' : '\0');
  return p;
}

PgParam PgParam::Text(absl::string_view value) {
  // Binary text is the bytes themselves; the server still checks they are
  // valid in its encoding.
  PgParam p(kTextOid, 1);
  p.view_ = value;
  return p;
}

PgParam PgParam::Bytes(absl::string_view value) {
  PgParam p(kByteaOid, 1);
  p.view_ = value;
  return p;
}

PgParam PgParam::NullText() {
  PgParam p(kTextOid, 1);
  p.null_ = true;
  return p;
}

PgParam PgParam::IntArray(const std::vector<int64_t>& values) {
  // Text format: the binary array format needs a header per dimension and
  // buys nothing for a few ids.
  PgParam p(kInt8ArrayOid, 0);
  p.owned_ = true;
  p.value_ = absl::StrCat("{", absl::StrJoin(values, ","), "}");
  return p;
}

PgParam PgParam::TextArray(const std::vector<std::string>& values) {
  PgParam p(kTextArrayOid, 0);
  p.owned_ = true;
  p.value_ = TextArrayLiteral(values);
  return p;
}

PgResult& PgResult::operator=(PgResult&& other) noexcept {
  if (this != &other) {
    PQclear(result_);
    result_ = other.result_;
    other.result_ = nullptr;
  }
  return *this;
}

PgResult::~PgResult() { PQclear(result_); }

int PgResult::rows() const { return PQntuples(result_); }

bool PgResult::IsNull(int row, int column) const {
  return PQgetisnull(result_, row, column) != 0;
}

int64_t PgResult::Int(int row, int column) const {
  const char* value = PQgetvalue(result_, row, column);
  if (PQfformat(result_, column) == 0) {
    int64_t parsed = 0;
    return absl::SimpleAtoi(value, &parsed) ? parsed : 0;
  }
  const int length = PQgetlength(result_, row, column);
  const uint64_t raw = FromBigEndian(value, length);
  switch (PQftype(result_, column)) {
    case kInt2Oid:
      return static_cast<int16_t>(raw);
    case kInt4Oid:
      return static_cast<int32_t>(raw);
    default:
      return static_cast<int64_t>(raw);
  }
}

bool PgResult::Bool(int row, int column) const {
  const char* value = PQgetvalue(result_, row, column);
  if (PQfformat(result_, column) == 0) return value[0] == 't';
  return PQgetlength(result_, row, column) > 0 && value[0] != 0;
}

std::string PgResult::Bytes(int row, int column) const {
  return std::string(PQgetvalue(result_, row, column),
                     PQgetlength(result_, row, column));
}

uint64_t PgResult::AffectedRows() const {
  uint64_t n = 0;
  return absl::SimpleAtoi(PQcmdTuples(result_), &n) ? n : 0;
}

absl::StatusOr<std::unique_ptr<PgConnection>> PgConnection::Connect(
    const std::string& url) {
  const std::string description = RedactPostgresUrl(url);
  if (!absl::StartsWith(url, "postgres://") &&
      !absl::StartsWith(url, "postgresql://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("store URL must start with postgres:// or "
                     "postgresql://, got \"",
                     description, "\""));
  }
  char* parse_error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(url.c_str(), &parse_error);
  if (parsed == nullptr) {
    std::string message =
        parse_error ? CleanMessage(parse_error, url) : "out of memory";
    PQfreemem(parse_error);
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid PostgreSQL URL \"", description, "\": ", message));
  }
  PQconninfoFree(parsed);

  // Defaults first: the URL's own parameters (expanded in place of
  // "dbname") override them. Without a timeout an unreachable host would
  // hang the start for minutes.
  const char* const keywords[] = {"connect_timeout", "application_name",
                                  "client_encoding", "dbname", nullptr};
  const char* const values[] = {"10", "notifyd", "UTF8", url.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (conn == nullptr) {
    return absl::ResourceExhaustedError("cannot allocate a libpq connection");
  }
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = CleanMessage(PQerrorMessage(conn), url);
    PQfinish(conn);
    return absl::UnavailableError(absl::StrCat(
        "cannot connect to PostgreSQL at ", description, ": ", message));
  }
  PQsetNoticeProcessor(conn, &LogNotice, nullptr);
  return std::unique_ptr<PgConnection>(new PgConnection(conn, description));
}

PgConnection::~PgConnection() { PQfinish(conn_); }

absl::Status PgConnection::ErrorFrom(PGresult* result) {
  std::string sqlstate;
  std::string message;
  if (result != nullptr) {
    const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
    const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
    if (state != nullptr) sqlstate = state;
    if (primary != nullptr) message = primary;
  }
  if (message.empty()) message = OneLine(PQerrorMessage(conn_));
  if (message.empty()) message = "unknown PostgreSQL error";
  const bool broken = PQstatus(conn_) != CONNECTION_OK;
  absl::Status status(CodeFor(sqlstate, broken),
                      sqlstate.empty()
                          ? absl::StrCat("PostgreSQL: ", message)
                          : absl::StrCat("PostgreSQL: ", message, " (SQLSTATE ",
                                         sqlstate, ")"));
  if (!sqlstate.empty())
    status.SetPayload(kSqlStatePayload, absl::Cord(sqlstate));
  return status;
}

absl::Status PgConnection::Exec(const std::string& sql) {
  PgResult result(PQexec(conn_, sql.c_str()));
  pg_result* raw = result.raw();
  const ExecStatusType status = PQresultStatus(raw);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
    return absl::OkStatus();
  }
  return ErrorFrom(raw);
}

absl::StatusOr<PgResult> PgConnection::Query(
    absl::string_view sql, std::initializer_list<PgParam> params) {
  std::vector<Oid> types;
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats;
  for (const PgParam& p : params) {
    types.push_back(p.type_);
    values.push_back(p.null_ ? nullptr : p.data());
    lengths.push_back(p.null_ ? 0 : p.size());
    formats.push_back(p.format_);
  }
  const std::string text(sql);
  PgResult result(PQexecParams(conn_, text.c_str(),
                               static_cast<int>(params.size()), types.data(),
                               values.data(), lengths.data(), formats.data(),
                               /*resultFormat=*/1));
  const ExecStatusType status = PQresultStatus(result.raw());
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return result;
  return ErrorFrom(result.raw());
}

bool PgConnection::Broken() const { return PQstatus(conn_) != CONNECTION_OK; }

bool PgConnection::InTransaction() const {
  const PGTransactionStatusType status = PQtransactionStatus(conn_);
  return status == PQTRANS_INTRANS || status == PQTRANS_INERROR ||
         status == PQTRANS_ACTIVE;
}

absl::Status PgConnection::EnsureOpen() {
  if (!Broken()) return absl::OkStatus();
  PQreset(conn_);
  if (Broken()) {
    return absl::UnavailableError(
        absl::StrCat("cannot reconnect to PostgreSQL at ", description_, ": ",
                     OneLine(PQerrorMessage(conn_))));
  }
  Log(spdlog::level::warn, "store: reconnected to PostgreSQL",
      {{"postgres", description_}});
  return absl::OkStatus();
}

}  // namespace notifyd::storage
