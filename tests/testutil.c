/*
 * testutil.c: scratch files and software devices for the unit tests
 * (testutil.h).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

static char tu_scratch[PATH_MAX];

void
tu_scratch_setup(void)
{
	snprintf(tu_scratch, sizeof(tu_scratch), "/tmp/vfio-migd-test.XXXXXX");
	if (mkdtemp(tu_scratch) == NULL) {
		perror("mkdtemp");
		abort();
	}
}

void
tu_scratch_teardown(void)
{
	if (tu_scratch[0] != '\0')
		tu_rm_rf(tu_scratch);
	tu_scratch[0] = '\0';
}

void
tu_mkdir(char *out, size_t len)
{
	ck_assert_msg(tu_scratch[0] != '\0', "no scratch directory: add the fixture");
	ck_assert_int_lt(snprintf(out, len, "%s/t.XXXXXX", tu_scratch), (int)len);
	ck_assert_ptr_nonnull(mkdtemp(out));
}

void
tu_path(char *out, size_t len, const char *dir, const char *name)
{
	ck_assert_int_lt(snprintf(out, len, "%s/%s", dir, name), (int)len);
}

void
tu_sparse_file(const char *path, uint64_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
	close(fd);
}

static int
tu_rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	if (remove(path) != 0 && errno != ENOENT)
		perror(path);
	return 0;
}

int
tu_rm_rf(const char *path)
{
	return nftw(path, tu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void
tu_sim_config(struct tu_sim *s, const char *name, uint64_t size, uint64_t seed)
{
	char file[NAME_MAX];

	memset(s, 0, sizeof(*s));
	tu_mkdir(s->dir, sizeof(s->dir));
	snprintf(file, sizeof(file), "%s.img", name);
	tu_path(s->image, sizeof(s->image), s->dir, file);
	s->cfg.name = name;
	s->cfg.image = s->image;
	s->cfg.size = size;
	s->cfg.seed = seed;
}

void
tu_sim_guest(struct tu_sim *s, uint64_t size)
{
	char file[NAME_MAX];

	snprintf(file, sizeof(file), "%s.ram", s->cfg.name);
	tu_path(s->guest, sizeof(s->guest), s->dir, file);
	s->cfg.guest_memory = s->guest;
	s->cfg.guest_memory_size = size;
}

struct sim_v1 *
tu_sim_open(struct tu_sim *s)
{
	struct sim_v1 *dev = NULL;

	ck_assert_int_eq(sim_v1_open(&s->cfg, &dev), 0);
	ck_assert_ptr_nonnull(dev);
	return dev;
}
