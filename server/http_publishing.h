// HTTP publishing on the admin listener, wired: the edge's PublishFunction
// (edge/publish_api.h: POST /v1/notify/{user_id}, POST
// /v1/publish/{channel}) answered by the api::Publisher that the gRPC
// Notifier uses too (api/publisher.h), so both share the API keys, the
// validation, the per-caller publish rate, the store and the bus
// (docs/DESIGN.md, "Publishing over HTTP").
//
// Each request: the caller from its Authorization header
// (Publisher::Authenticate; without API keys everyone is "anonymous", which
// is why the admin listener belongs on loopback when no keys file is
// configured), then Publisher::Publish. A refusal for the key or the rate
// is logged at warn with the peer's address, at most 10 lines a second,
// like the gRPC service's; a refusal by the rate carries Retry-After, the
// time one token takes to refill (1 / --max_publish_rate, at least 1 s).
//
// The returned function is thread-safe and never blocks; the Publisher
// must outlive it.
#ifndef NOTIFYD_SERVER_HTTP_PUBLISHING_H_
#define NOTIFYD_SERVER_HTTP_PUBLISHING_H_

#include "api/publisher.h"
#include "edge/publish_api.h"

namespace notifyd::server {

// `max_publish_rate` is the Publisher's (per caller per second; 0 =
// unlimited), for Retry-After.
edge::PublishFunction HttpPublishing(api::Publisher& publisher,
                                     double max_publish_rate);

}  // namespace notifyd::server

#endif  // NOTIFYD_SERVER_HTTP_PUBLISHING_H_
