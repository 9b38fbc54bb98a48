#include "edge/push_api.h"

#include <utility>

#include "boost/json/object.hpp"
#include "boost/json/serialize.hpp"
#include "common/log.h"
#include "edge/push_credential.h"
#include "edge/push_request.h"
#include "storage/push.h"

namespace notifyd::edge {
namespace {

namespace json = boost::json;

ApiReply Refusal(absl::Status status) { return {std::move(status), ""}; }

}  // namespace

PushApi::PushApi(storage::Store& store, const IdentityOptions& identity,
                 std::vector<std::string> cors_origins, std::string public_key,
                 bool allow_private)
    : store_(store),
      identity_(identity),
      cors_origins_(std::move(cors_origins)),
      public_key_(std::move(public_key)),
      allow_private_(allow_private) {}

void PushApi::Serve(const InboxRequest& request,
                    std::function<void(ApiReply)> done) const {
  if (request.route == RouteId::kPushKey) {
    if (absl::Status s = CheckParams(*request.target, {}); !s.ok()) {
      return done(Refusal(s));
    }
    if (public_key_.empty()) {
      return done(Refusal(absl::NotFoundError("push not configured")));
    }
    return done({absl::OkStatus(),
                 json::serialize(json::object{{"public_key", public_key_}})});
  }
  if (request.route != RouteId::kPushSubscriptions) {
    return done(Refusal(absl::NotFoundError("not found")));
  }
  absl::StatusOr<std::string> channel =
      AuthenticateChange(request, identity_, cors_origins_);
  if (!channel.ok()) return done(Refusal(channel.status()));
  if (request.method == kDelete) {
    return Unsubscribe(*std::move(channel), request.body, std::move(done));
  }
  Subscribe(*std::move(channel), request.body, std::move(done));
}

void PushApi::Subscribe(std::string channel, absl::string_view body,
                        std::function<void(ApiReply)> done) const {
  absl::StatusOr<PushSubscriptionBody> parsed =
      ParsePushSubscription(body, allow_private_);
  if (!parsed.ok()) return done(Refusal(parsed.status()));
  absl::StatusOr<std::string> credential = NewPushCredential();
  if (!credential.ok()) return done(Refusal(credential.status()));
  storage::PushSubscription subscription;
  subscription.channel = std::move(channel);
  subscription.endpoint = std::move(parsed->endpoint);
  subscription.p256dh = std::move(parsed->p256dh);
  subscription.auth = std::move(parsed->auth);
  subscription.secret_sha256 = PushCredentialHash(*credential);
  std::string log_channel = subscription.channel;
  store_.PutPushSubscription(
      std::move(subscription),
      [done = std::move(done), credential = *std::move(credential),
       log_channel =
           std::move(log_channel)](absl::StatusOr<storage::PushPutResult> put) {
        if (put.status().code() == absl::StatusCode::kResourceExhausted) {
          return done(Refusal(put.status()));  // the per-user limit: 429
        }
        if (!put.ok()) return done(Refusal(StoreError(put.status())));
        Log(spdlog::level::debug, "push: subscription stored",
            {{"channel", log_channel}, {"created", put->created}});
        done({absl::OkStatus(),
              json::serialize(json::object{{"credential", credential}}),
              absl::ZeroDuration(), put->created ? 201 : 200});
      });
}

void PushApi::Unsubscribe(std::string channel, absl::string_view body,
                          std::function<void(ApiReply)> done) const {
  absl::StatusOr<std::string> endpoint = ParsePushEndpoint(body);
  if (!endpoint.ok()) return done(Refusal(endpoint.status()));
  store_.RemovePushSubscription(
      {*std::move(endpoint), std::move(channel)},
      [done = std::move(done)](absl::StatusOr<bool> removed) {
        if (!removed.ok()) return done(Refusal(StoreError(removed.status())));
        if (!*removed) {
          return done(
              Refusal(absl::NotFoundError("no such push subscription")));
        }
        done({absl::OkStatus(), "", absl::ZeroDuration(), 204});
      });
}

}  // namespace notifyd::edge
