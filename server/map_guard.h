/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PB_MAP_GUARD_H
#define PB_MAP_GUARD_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Mapped files that shrink. Reading a page of a file mapping past the
 * file's end raises SIGBUS, which kills the process: a capture file
 * truncated or rewritten in place while it is replayed would take the
 * daemon down. A guarded mapping instead gets anonymous zero pages from
 * the faulting page to its end, and that page is noted (before the zero
 * pages appear, so a reader that got zeros from them sees the note); the
 * process goes on. The file shrinks from its end: bytes below the lowest
 * page that faulted are still the file's (pb_map_guard_ok), the caller
 * stops at the first bytes that are not, saying why. The kernel's own
 * limit: the rest of the page the file now ends in reads as zeros
 * without a fault, so up to a page of bytes past the new end may read as
 * zeros unnoticed. A SIGBUS anywhere else goes to the handler that was
 * there before ours (by default: the process dies, as without the guard).
 *
 * The handler is installed by pb_map_guard_add (again, in front, when
 * somebody replaced it since). A thread that
 * reads a guarded mapping must not block SIGBUS (a blocked synchronous
 * SIGBUS kills the process whatever the handler). At most
 * PB_MAP_GUARD_SLOTS mappings are guarded at a time.
 */

#define PB_MAP_GUARD_SLOTS 1024u

struct pb_map_guard;

/* Guards [map, map + len): the guard, or NULL when every slot is taken or
 * the handler cannot be installed (errno set). */
struct pb_map_guard *pb_map_guard_add(const void *map, size_t len);
/* Before the mapping goes: a SIGBUS in it is no longer ours after this. */
void pb_map_guard_remove(struct pb_map_guard *g);
/* The file shrank under the mapping (some of it now reads as zeros). */
bool pb_map_guard_shrunk(const struct pb_map_guard *g);
/* [p, p + len) of the mapping was read from the file: it lies below every
 * page that faulted (check after reading it). True for a NULL guard. */
bool pb_map_guard_ok(const struct pb_map_guard *g, const void *p, size_t len);

#endif
