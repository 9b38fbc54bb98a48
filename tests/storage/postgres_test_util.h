// The PostgreSQL store's test harness, shared by the binary's files
// (postgres_store_test.cc, postgres_instances_test.cc): the server the
// binary starts once (postgres_store_test.cc registers it), a fresh
// database per harness, and the fixture for what only PostgreSQL does.
#ifndef NOTIFYD_TESTS_STORAGE_POSTGRES_TEST_UTIL_H_
#define NOTIFYD_TESTS_STORAGE_POSTGRES_TEST_UTIL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "storage/postgres_connection.h"
#include "storage/postgres_store.h"
#include "tests/storage/store_contract_test.h"
#include "tests/support/postgres_server.h"

namespace notifyd::storage::testing {

// The binary's server, once its environment has started it; null before,
// or when it failed to start.
notifyd::testing::PostgresServer* SharedPostgresServer();

// A fresh database on the binary's server per harness (so per test).
class PostgresHarness
    : public StoreHarnessFor<PostgresStoreOptions, &OpenPostgresStore> {
 public:
  void SetUp() override {
    notifyd::testing::PostgresServer* server = SharedPostgresServer();
    ASSERT_NE(server, nullptr) << "the PostgreSQL server did not start";
    absl::StatusOr<std::string> url = server->CreateDatabase();
    ASSERT_TRUE(url.ok()) << url.status();
    url_ = *url;
  }

  const std::string& url() const { return url_; }

  // Runs SQL on the test's database through a connection of its own, as
  // the superuser: what an operator (or another instance) does meanwhile.
  void Sql(const std::string& sql) {
    auto db = PgConnection::Connect(url_);
    ASSERT_TRUE(db.ok()) << db.status();
    absl::Status s = (*db)->Exec(sql);
    EXPECT_TRUE(s.ok()) << s;
  }

  int64_t SqlInt(const std::string& sql) {
    auto db = PgConnection::Connect(url_);
    EXPECT_TRUE(db.ok()) << db.status();
    if (!db.ok()) return -1;
    auto r = (*db)->Query(sql);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() && r->rows() == 1 && !r->IsNull(0, 0) ? r->Int(0, 0) : -1;
  }

  // StoreHarness:
  void RejectWrites(Write write, const std::string& event) override {
    const std::string is_event = "event = '" + event + "'";
    // A mark-read is the update that sets read_at_ms: the `seen` change
    // that the same call makes before it passes, and must be undone too.
    const std::string when =
        write == Write::kInsert
            ? "BEFORE INSERT ON notifications FOR EACH ROW WHEN (NEW." +
                  is_event + ")"
            : "BEFORE UPDATE ON notifications FOR EACH ROW WHEN (OLD." +
                  is_event +
                  " AND OLD.read_at_ms IS DISTINCT FROM NEW.read_at_ms)";
    Sql("CREATE FUNCTION reject_for_test() RETURNS trigger LANGUAGE plpgsql"
        " AS $$ BEGIN RAISE EXCEPTION 'rejected by test'; END $$;"
        " CREATE TRIGGER reject " +
        when + " EXECUTE FUNCTION reject_for_test()");
  }

  int64_t CommittedRowsWithId(uint64_t id) override {
    return SqlInt("SELECT count(*) FROM notifications WHERE id = " +
                  std::to_string(id));
  }

  // The schema version is the newest migration recorded.
  bool SetSchemaVersion(int version) override {
    Sql("INSERT INTO notify_schema_migrations (version, name) VALUES (" +
        std::to_string(version) + ", '" + std::to_string(version) +
        "_future.sql')");
    return true;
  }

 protected:
  void SetDatabase(PostgresStoreOptions& options) override {
    options.url = url_;
  }

  // The gate runs in each batch transaction, right before COMMIT (so
  // holding the id counter's lock), once the test's before_commit has.
  void AddWriterGate(PostgresStoreOptions& options) override {
    options.before_commit = [this, inner = std::move(options.before_commit)] {
      if (inner) inner();
      PassWriterGate();
    };
  }

 private:
  std::string url_;
};

// What only PostgreSQL does, on the same harness.
class PostgresStoreTest : public ::testing::Test, public StoreTestHelpers {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(harness_.SetUp());
    url_ = harness_.url();
  }

  PostgresStoreOptions Options() { return harness_.Options(); }

  // Through the harness, so through the writer gate; null when it failed.
  std::unique_ptr<StoreEngine> Open(PostgresStoreOptions options) {
    return harness_.OpenOrFail(std::move(options));
  }

  std::unique_ptr<StoreEngine> Open() { return Open(Options()); }

  // Appends one notification and keeps the writer inside its transaction,
  // holding the id counter's row lock, until `release` is notified: calls
  // made meanwhile on this store queue up for the next batch, and appends
  // of other instances wait for the lock.
  Hold HoldWriter(Store& store) { return harness_.HoldWriter(store); }

  void Sql(const std::string& sql) { harness_.Sql(sql); }
  int64_t SqlInt(const std::string& sql) { return harness_.SqlInt(sql); }

  PostgresHarness harness_;
  std::string url_;
};

}  // namespace notifyd::storage::testing

#endif  // NOTIFYD_TESTS_STORAGE_POSTGRES_TEST_UTIL_H_
