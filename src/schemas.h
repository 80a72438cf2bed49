/* schemas.h -- the Avro schemas of src/schemas/, compiled in by the build
 * (scripts/embed-schemas.sh). Each is NUL-terminated JSON. */
#ifndef RKV_SCHEMAS_H
#define RKV_SCHEMAS_H

extern const char rkv_schema_object[];
extern const char rkv_schema_context[];

#endif
