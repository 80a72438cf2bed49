/* dirsync.h -- making a directory's entries durable.
 *
 * fsync of a file makes its bytes durable, not its name: a file just
 * created, or renamed into place, can still vanish in a crash until its
 * directory is flushed too. The commit log does it for the file it
 * creates, compaction for the database file it renames over the old one.
 */
#ifndef RKV_DIRSYNC_H
#define RKV_DIRSYNC_H

#include <fcntl.h>
#include <unistd.h>

/* dir_sync -- fsync the directory dir: 0, or -1 with errno set. */
static inline int dir_sync(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (fsync(fd) != 0) {
		close(fd);
		return -1;
	}
	return close(fd);
}

#endif
