// What an EdgeServer is told: its listener and role, I/O threads, stream
// timing, TLS files, the limits of docs/DESIGN.md "Limits", identity and
// what /readyz waits for, each with its default; and the one check of them
// all (Validate), which main runs once at start and EdgeServer::Start runs
// again. Plain data, Beast-free; copy freely.
#ifndef NOTIFYD_EDGE_EDGE_OPTIONS_H_
#define NOTIFYD_EDGE_EDGE_OPTIONS_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/listen_address.h"
#include "edge/identity.h"
#include "edge/publish_api.h"
#include "edge/routes.h"
#include "storage/notification.h"

namespace notifyd::edge {

// A condition /readyz needs besides the store: `ok` is called on I/O
// threads, so it must be quick and thread-safe; when false, /readyz
// answers 503 "<name> unavailable".
struct ReadyCheck {
  std::string name;
  std::function<bool()> ok;
};

struct EdgeOptions {
  // host:port; port 0 = ephemeral
  std::string listen = std::string(kDefaultHttpListen);
  EdgeRole role = EdgeRole::kPublic;
  int io_threads = 2;
  absl::Duration heartbeat = absl::Seconds(15);
  int retry_ms = 2000;
  // A stream whose queued bytes pass this is closed as a slow consumer.
  // Replay never does that to a reader that keeps up: it reads pages of at
  // most max_queue_bytes / 2 bytes of data and fetches the next one only
  // once the previous page has been written.
  size_t max_queue_bytes = 1 << 20;
  std::vector<std::string> cors_origins;  // "*" allowed
  // HTTPS when both are set: PEM certificate chain and private key, TLS 1.2
  // or newer. Start() fails naming the file when one cannot be loaded.
  std::string tls_cert_file, tls_key_file;
  // HTTP/2 on the TLS listener (docs/DESIGN.md, "HTTP/2"): ALPN offers h2
  // and http/1.1; false offers http/1.1 only. No effect without TLS.
  bool http2 = true;
  // SETTINGS_MAX_CONCURRENT_STREAMS of an HTTP/2 connection: streams past
  // it are refused by the protocol (REFUSED_STREAM, or PROTOCOL_ERROR once
  // the client has acknowledged the setting). 1 to 10000.
  uint32_t h2_max_concurrent_streams = 100;
  // Frames per second one HTTP/2 connection may send that cost work and
  // carry no request (SETTINGS, PING, RST_STREAM, PRIORITY, empty DATA,
  // invalid frames); past it: GOAWAY ENHANCE_YOUR_CALM, connection closed
  // (rapid reset and SETTINGS/PING floods). 10 to 1000.
  uint32_t h2_max_control_frames_per_second = 200;
  // Limits (docs/DESIGN.md, "Limits"). Each refusal counts in
  // notifyd_limit_rejections_total{limit=...} and answers a short body.
  // Open connections; one over it is answered 503 at once and closed,
  // without reading from it. 0 = unlimited (App fills it from the
  // process's descriptor budget, common/fd_budget.h).
  size_t max_connections = 0;
  // Open connections from one client IP; over it: 429 at once, then
  // closed. 0 = unlimited
  size_t max_connections_per_address = 0;
  // Open streams whose identity is this user (its user channel), counted
  // until they close; over it: 429. 0 = unlimited.
  size_t max_streams_per_user = 16;
  // Stream opens per second per user (a token bucket holding at most
  // stream_open_burst), so a client reconnecting in a loop costs bounded
  // work. Over it the open is answered 200 with only a `retry:` (the time
  // until the next token, at least retry_ms) and a comment, then closed,
  // without reading the store: EventSource gives up for good on any other
  // status, but reconnects after a stream ends. 0 = unlimited.
  double stream_open_rate = 2;
  size_t stream_open_burst = 20;
  size_t max_channels_per_stream = 32;  // extra channels, besides user:<id>
  size_t max_header_bytes = 8192;       // request line + fields; over it: 431
  // Idle keep-alive time, and the total time a request header (and a TLS
  // handshake) may take to arrive: not reset per byte, so a client that
  // trickles its header is cut off.
  absl::Duration idle_timeout = absl::Seconds(30);
  absl::Duration write_timeout = absl::Seconds(30);
  // Proxies (CIDRs or addresses, edge/trusted_proxies.h) whose
  // Forwarded / X-Forwarded-For headers name the client: a connection from
  // one is counted against max_connections_per_address, and logged, under
  // the address they name, not its own. Empty: nobody's.
  std::vector<std::string> trusted_proxies;
  bool insecure_dev_identity = false;  // ?user= accepted only when true
  std::string web_root;                // empty: embedded page
  uint32_t replay_page = 500;  // most rows of one replay page (at least 1)
  // Verifies access tokens (JWT; docs/DESIGN.md, "Security"); empty: 401.
  TokenVerifier token_verifier;
  // Name of the cookie that may carry the token (--token_cookie).
  std::string token_cookie = "access_token";
  // What else /readyz waits for: a shared bus that is connected, the other
  // listeners accepting. Checked in order; the first failing one is named.
  std::vector<ReadyCheck> ready_checks;
  // Publishes a record the store committed for a state change made through
  // POST /v1/inbox/state (storage::ChangeResult::record), so that every
  // stream of the user, on every instance, learns of it: App hands the bus
  // here. Called on the store's completer thread, in commit order, as the
  // gRPC service publishes; must not block. Empty: the record goes to this
  // server's hub only (one instance, tests).
  std::function<void(std::shared_ptr<const storage::Notification>)>
      publish_record;
  // HTTP publishing, POST /v1/notify/{user_id} and /v1/publish/{channel}
  // (edge/publish_api.h; admin listener): App hands its Publisher in here
  // (server/http_publishing.h). Empty: those routes answer 404.
  PublishFunction publish;
  // Largest body of the publishing routes: a notification's data
  // (--max_payload_bytes); past it, 413 before the body is read.
  size_t max_payload_bytes = 64 * 1024;
  // Web Push (edge/push_api.h): the VAPID public key GET /v1/push/key
  // hands browsers (base64url of its 65 bytes, an uncompressed P-256
  // point); empty: push is not configured and that route answers 404.
  std::string push_public_key;
  // Accept push endpoints on loopback, private and single-label hosts
  // (edge/push_request.h): for tests against a local push service only
  // (--push_allow_private).
  bool push_allow_private = false;

  // INVALID_ARGUMENT naming the flag of the first option out of range: a
  // stream's channels (its user channel plus max_channels_per_stream) must
  // fit one replay (storage::kMaxReplayChannels), a page one store read
  // (storage::kMaxPageRows), and the rest must be usable. EdgeServer::Start
  // checks it too.
  absl::Status Validate() const;
};

}  // namespace notifyd::edge

#endif  // NOTIFYD_EDGE_EDGE_OPTIONS_H_
