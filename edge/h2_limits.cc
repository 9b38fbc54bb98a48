#include "edge/h2_limits.h"

#include <iterator>

namespace notifyd::edge {

nghttp2_session* NewH2ServerSession(const nghttp2_session_callbacks* callbacks,
                                    void* user_data, const H2Limits& limits) {
  nghttp2_option* opt = nullptr;
  if (nghttp2_option_new(&opt) != 0) return nullptr;
  nghttp2_option_set_max_outbound_ack(opt, kH2MaxOutboundAcks);
  // Nothing here uses RFC 7540 priorities: closed streams need not be kept.
  nghttp2_option_set_no_closed_streams(opt, 1);
  nghttp2_session* session = nullptr;
  int rv = nghttp2_session_server_new2(&session, callbacks, user_data, opt);
  nghttp2_option_del(opt);
  if (rv != 0) return nullptr;
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, limits.max_concurrent_streams},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, limits.max_header_list_bytes},
      {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, kH2HeaderTableBytes},
      {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
  };
  if (nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, settings,
                              std::size(settings)) != 0) {
    nghttp2_session_del(session);
    return nullptr;
  }
  return session;
}

}  // namespace notifyd::edge
