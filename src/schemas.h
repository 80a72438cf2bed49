/* schemas.h -- the Avro schemas of src/schemas/, compiled in by the build
 * (scripts/embed-schemas.sh). Each is NUL-terminated JSON. */
#ifndef RKV_SCHEMAS_H
#define RKV_SCHEMAS_H

extern const char rkv_schema_object[];
extern const char rkv_schema_context[];
extern const char rkv_schema_ring[];
extern const char rkv_schema_log_block[];

/* Internode messages (src/msg.c). */
extern const char rkv_schema_msg_hello[];
extern const char rkv_schema_msg_hello_body[];
extern const char rkv_schema_msg_replicate[];
extern const char rkv_schema_msg_replicate_reply[];
extern const char rkv_schema_msg_fetch[];
extern const char rkv_schema_msg_fetch_reply[];
extern const char rkv_schema_msg_forward[];
extern const char rkv_schema_msg_forward_reply[];
extern const char rkv_schema_msg_gossip[];
extern const char rkv_schema_msg_gossip_reply[];
extern const char rkv_schema_msg_hint[];
extern const char rkv_schema_msg_hint_reply[];

#endif
