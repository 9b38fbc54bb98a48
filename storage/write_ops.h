// The write calls of the store engine (store_engine.h) other than appends
// (append_ops.h) as operations on the
// primitives of WriteTransaction (store_backend.h): written once for every
// database, so appends, state changes, deletes, expiry and retention keep an
// inbox's counts and records the same way on SQLite, PostgreSQL and memory
// (docs/DESIGN.md, The inbox).
//
// Each operation runs on the writer thread inside a batch (Run, possibly
// again when the backend retries the batch) and answers its caller on the
// completer thread once the batch is committed or lost (Finish).
#ifndef NOTIFYD_STORAGE_WRITE_OPS_H_
#define NOTIFYD_STORAGE_WRITE_OPS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/store.h"
#include "storage/store_backend.h"
#include "storage/store_options.h"

namespace notifyd::storage {

// Store::ChangeState, validated by the caller (CheckStateChange).
std::unique_ptr<WriteOp> MakeChangeStateOp(const StoreOptions& options,
                                           StateChange change,
                                           Callback<ChangeResult> done);

// Store::Delete, validated by the caller (CheckDelete).
std::unique_ptr<WriteOp> MakeDeleteOp(const StoreOptions& options,
                                      DeleteRequest request,
                                      Callback<ChangeResult> done);

// One batch of expiry: deletes at most `limit` expired notifications and
// commits a deletion record per inbox they were in; `done` gets how many it
// deleted, after options.on_records got the records.
std::unique_ptr<WriteOp> MakeExpireOp(const StoreOptions& options,
                                      int64_t limit, Callback<uint64_t> done);

// The store.h limits of ChangeState and Delete: OK, or INVALID_ARGUMENT.
absl::Status CheckStateChange(const StateChange& change);
absl::Status CheckDelete(const DeleteRequest& request);

// Takes deleted rows out of their inboxes' counts (retention, which leaves
// no record). Returns how many rows there were.
absl::StatusOr<uint64_t> Uncount(WriteTransaction& txn,
                                 const WriteTransaction::Rows& rows);

}  // namespace notifyd::storage

#endif  // NOTIFYD_STORAGE_WRITE_OPS_H_
