// The appends of the store engine (store_engine.h) as write operations
// (store_backend.h, WriteOp) on the primitives of WriteTransaction: written
// once for every database, so an append keeps its inbox's counts and, with
// a collapse key, records what it replaced the same way on SQLite,
// PostgreSQL and memory (docs/DESIGN.md, The inbox).
//
// Each operation runs on the writer thread inside a batch (Run, possibly
// again when the backend retries the batch) and answers its caller on the
// completer thread once the batch is committed or lost (Finish).
#ifndef NOTIFYD_STORAGE_APPEND_OPS_H_
#define NOTIFYD_STORAGE_APPEND_OPS_H_

#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "storage/store.h"
#include "storage/store_backend.h"
#include "storage/store_options.h"

namespace notifyd::storage {

// Store::Append, validated by the caller (CheckAppend): the notification,
// its inbox counts and, with a collapse key, the deletion of the older ones
// it replaces (and its record).
std::unique_ptr<WriteOp> MakeAppendOp(const StoreOptions& options,
                                      AppendRequest request,
                                      Callback<AppendResult> done);

// Store::AppendMany, validated by the caller (CheckAppendMany): every
// request's MakeAppendOp work, in one savepoint. When the requests are a
// fan-out (one payload for many channels: the same event, data and expiry,
// no collapse key, no (channel, idempotency key) twice) the rows and counts
// go in through InsertFanOut and AddCountsEach, which a backend may do in
// a few statements (docs/DESIGN.md, Fan-out); otherwise one by one.
std::unique_ptr<WriteOp> MakeAppendManyOp(
    const StoreOptions& options, std::vector<AppendRequest> requests,
    Callback<std::vector<AppendResult>> done);

// The store.h limits of Append and AppendMany: OK, or INVALID_ARGUMENT.
absl::Status CheckAppend(const AppendRequest& request);
absl::Status CheckAppendMany(const std::vector<AppendRequest>& requests);

}  // namespace notifyd::storage

#endif  // NOTIFYD_STORAGE_APPEND_OPS_H_
