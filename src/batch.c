/* Batch mode: map many images in parallel, one output file per image.
 *
 *   bmapgen --batch [-j N] [-o OUTDIR] [--force] [--shard I/N]
 *           [-f FORMAT] IMAGE...|DIR|@LIST
 *
 * Each image is mapped in a child process (a hostile image can at worst
 * take its own child down), written to a temporary file and renamed into
 * place.  An image is skipped when its output exists and the stamp file
 * next to it records the image's current size and mtime, unless --force.
 * --shard I/N keeps the images whose path hashes to I-1 modulo N, so that
 * GNU parallel, Slurm arrays or Kubernetes Indexed Jobs can split a
 * repository deterministically.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "bmapgen.h"

struct batch {
	char **images;
	size_t n, cap;
	const char *outdir;
	const char *format;
	bool force;
	unsigned shard_i, shard_n;
	unsigned jobs;
	bool progress;
};

static void add_image(struct batch *b, const char *path)
{
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 64;
		b->images = bm_reallocarray(b->images, b->cap, sizeof *b->images);
	}
	b->images[b->n++] = bm_strdup(path);
}

/* Does NAME (L bytes) end as one of our outputs? */
static bool output_suffix(const char *name, size_t l)
{
	static const char *const sfx[] = { ".bmap", ".bmap.stamp", ".json",
					   ".jsonl", ".xml" };
	for (size_t i = 0; i < sizeof sfx / sizeof *sfx; i++) {
		size_t s = strlen(sfx[i]);
		if (l >= s && memcmp(name + l - s, sfx[i], s) == 0)
			return true;
	}
	return false;
}

/* An output, or a temporary one ("OUTPUT.tmpXXXXXX", mkstemp's) of a run
 * in progress: not an image. */
static bool is_output_name(const char *name)
{
	size_t l = strlen(name);
	if (output_suffix(name, l))
		return true;
	return l > 10 && memcmp(name + l - 10, ".tmp", 4) == 0 &&
	       output_suffix(name, l - 10);
}

/* A directory contributes its regular files (not recursively, not our
 * own outputs); @LIST contributes one path per line. */
static int expand(struct batch *b, const char *arg)
{
	if (arg[0] == '@') {
		FILE *f = strcmp(arg + 1, "-") ? fopen(arg + 1, "r") : stdin;
		if (!f) {
			fprintf(stderr, "bmapgen: %s: %s\n", arg + 1,
				strerror(errno));
			return -1;
		}
		char *line = NULL;
		size_t cap = 0;
		ssize_t len;
		while ((len = getline(&line, &cap, f)) > 0) {
			while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
				line[--len] = '\0';
			if (len && line[0] != '#')
				add_image(b, line);
		}
		free(line);
		if (f != stdin)
			fclose(f);
		return 0;
	}
	struct stat st;
	if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) {
		DIR *d = opendir(arg);
		if (!d) {
			fprintf(stderr, "bmapgen: %s: %s\n", arg, strerror(errno));
			return -1;
		}
		struct dirent *e;
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.' || is_output_name(e->d_name))
				continue;
			char *p = bm_path_join(arg, e->d_name, strlen(e->d_name));
			struct stat fs;
			/* A dangling link is kept: it fails visibly. */
			if (stat(p, &fs) < 0 || S_ISREG(fs.st_mode) ||
			    S_ISBLK(fs.st_mode))
				add_image(b, p);
			free(p);
		}
		closedir(d);
		return 0;
	}
	add_image(b, arg); /* a missing file fails when it is mapped */
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

static const char *format_suffix(const char *format)
{
	if (strcmp(format, "json") == 0)
		return ".json";
	if (strcmp(format, "jsonl") == 0)
		return ".jsonl";
	if (strcmp(format, "bmaptool") == 0)
		return ".bmap.xml";
	return ".bmap";
}

static char *output_path(const struct batch *b, const char *image)
{
	const char *base = strrchr(image, '/');
	base = base ? base + 1 : image;
	if (b->outdir)
		return bm_asprintf("%s/%s%s", b->outdir, base,
				   format_suffix(b->format));
	return bm_asprintf("%s%s", image, format_suffix(b->format));
}

/* The stamp records which file the image was (its inode: another file
 * of one size and mtime put in its place is not taken for it; not the
 * device number, which btrfs, NFS and overlayfs change across mounts)
 * and its size and mtime when it was mapped. */
static char *stamp_of(const struct stat *st)
{
	return bm_asprintf("%lld %lld.%09ld %llu\n", (long long)st->st_size,
			   (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec,
			   (unsigned long long)st->st_ino);
}

struct outname {
	char *out;
	size_t i;
};

static int cmp_out(const void *a, const void *b)
{
	const struct outname *x = a, *y = b;
	return strcmp(x->out, y->out);
}

/* With -o, images of one file name in different directories would write
 * one output file: mark them in CLASH (each is reported, none mapped). */
static void find_clashes(const struct batch *b, bool *clash)
{
	if (!b->outdir || b->n < 2)
		return;
	struct outname *v = bm_calloc(b->n, sizeof *v);
	for (size_t i = 0; i < b->n; i++)
		v[i] = (struct outname){ output_path(b, b->images[i]), i };
	bm_qsort(v, b->n, sizeof *v, cmp_out);
	for (size_t i = 1; i < b->n; i++)
		if (strcmp(v[i].out, v[i - 1].out) == 0)
			clash[v[i].i] = clash[v[i - 1].i] = true;
	for (size_t i = 0; i < b->n; i++)
		free(v[i].out);
	free(v);
}

static bool up_to_date(const char *image, const char *out)
{
	struct stat si, so;
	if (stat(image, &si) < 0 || stat(out, &so) < 0)
		return false;
	if (so.st_mtim.tv_sec < si.st_mtim.tv_sec ||
	    (so.st_mtim.tv_sec == si.st_mtim.tv_sec &&
	     so.st_mtim.tv_nsec < si.st_mtim.tv_nsec))
		return false;
	char *sp = bm_asprintf("%s.stamp", out);
	FILE *f = fopen(sp, "r");
	free(sp);
	if (!f)
		return false;
	char buf[128] = { 0 };
	bool ok = fgets(buf, sizeof buf, f) != NULL;
	fclose(f);
	char *want = stamp_of(&si);
	ok = ok && strcmp(buf, want) == 0;
	free(want);
	return ok;
}

/* Child: map IMAGE to OUT; report "objects ranges" on FD; exit status
 * as bmapgen's. */
static int map_one(const struct batch *b, const char *image, const char *out,
		   int fd)
{
	struct bm_options opts = { .output_format = b->format };
	struct stat si;
	bool have_stat = stat(image, &si) == 0;
	struct bm_ctx *ctx = bm_ctx_new(&opts);
	if (!bm_open_disk(ctx, image)) {
		bm_ctx_free(ctx);
		return BM_FAILED;
	}
	bm_map_all(ctx);
	char *tmp = bm_asprintf("%s.tmpXXXXXX", out);
	int ofd = mkstemp(tmp);
	FILE *f = ofd >= 0 ? fdopen(ofd, "w") : NULL;
	int err = f ? bm_write_format(ctx, b->format, f) : -1;
	if (f && (fflush(f) != 0 || ferror(f)))
		err = -1;
	if (f && fclose(f) != 0)
		err = -1;
	if (ofd >= 0 && err == 0) {
		mode_t um = umask(0);
		umask(um);
		chmod(tmp, 0666 & ~um);
		err = rename(tmp, out);
	}
	if (err) {
		fprintf(stderr, "bmapgen: %s: cannot write %s: %s\n", image,
			out, strerror(errno));
		if (ofd >= 0)
			unlink(tmp);
	} else if (have_stat) {
		char *sp = bm_asprintf("%s.stamp", out);
		FILE *s = fopen(sp, "w");
		if (s) {
			char *st = stamp_of(&si);
			fputs(st, s);
			free(st);
			fclose(s);
		}
		free(sp);
	}
	free(tmp);
	dprintf(fd, "%zu %zu\n", bm_object_count(ctx), bm_store_count(ctx));
	int status = err ? BM_FAILED : bm_ctx_status(ctx);
	bm_ctx_free(ctx);
	return status;
}

struct job {
	pid_t pid;
	int fd;
	size_t index;
};

static void usage(void)
{
	fputs("Usage: bmapgen --batch [-j N] [-o OUTDIR] [--force] "
	      "[--shard I/N] [-f FORMAT] IMAGE...|DIR|@LIST\n",
	      stderr);
}

int bm_batch_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "batch", no_argument, NULL, 'B' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "output", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, 'f' },
		{ "force", no_argument, NULL, 'F' },
		{ "shard", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	struct batch b = { .format = "virt-bmap", .jobs = 0, .shard_n = 1,
			   .shard_i = 1, .progress = isatty(2) };
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "j:o:f:", longopts, NULL)) != -1) {
		switch (c) {
		case 'B':
			break;
		case 'j': {
			const char *p = optarg;
			uint64_t v;
			if (!bm_parse_u64(&p, 10, &v) || *p || v == 0 ||
			    v > 4096) {
				fprintf(stderr, "bmapgen: --jobs wants a number "
						"from 1 to 4096, not '%s'\n",
					optarg);
				return BM_FAILED;
			}
			b.jobs = (unsigned)v;
			break;
		}
		case 'o':
			b.outdir = optarg;
			break;
		case 'f':
			b.format = optarg;
			break;
		case 'F':
			b.force = true;
			break;
		case 'S':
			if (sscanf(optarg, "%u/%u", &b.shard_i, &b.shard_n) != 2 ||
			    b.shard_n == 0 || b.shard_i == 0 ||
			    b.shard_i > b.shard_n) {
				fprintf(stderr, "bmapgen: --shard wants I/N with "
						"1 <= I <= N\n");
				return BM_FAILED;
			}
			break;
		default:
			usage();
			return BM_FAILED;
		}
	}
	if (optind >= argc) {
		usage();
		return BM_FAILED;
	}
	if (!bm_format_known(b.format)) {
		fprintf(stderr, "bmapgen: unknown output format '%s'\n",
			b.format);
		return BM_FAILED;
	}
	if (b.outdir && mkdir(b.outdir, 0777) < 0 && errno != EEXIST) {
		fprintf(stderr, "bmapgen: %s: %s\n", b.outdir, strerror(errno));
		return BM_FAILED;
	}
	if (b.jobs == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		b.jobs = n > 0 ? (unsigned)n : 1;
	}
	for (int i = optind; i < argc; i++)
		if (expand(&b, argv[i]) < 0)
			return BM_FAILED;
	bm_qsort(b.images, b.n, sizeof *b.images, cmp_str);
	/* An image named twice is mapped once. */
	size_t kept = 0;
	for (size_t i = 0; i < b.n; i++) {
		if (kept && strcmp(b.images[kept - 1], b.images[i]) == 0)
			free(b.images[i]);
		else
			b.images[kept++] = b.images[i];
	}
	b.n = kept;
	/* Output names that clash, over the whole list: every shard sees
	 * the same clashes. */
	bool *clash = bm_calloc(b.n ? b.n : 1, sizeof *clash);
	find_clashes(&b, clash);
	/* Keep this shard's images (the same path always lands in the
	 * same shard, whatever else the list holds). */
	kept = 0;
	for (size_t i = 0; i < b.n; i++) {
		if (fnv1a(b.images[i]) % b.shard_n == b.shard_i - 1) {
			clash[kept] = clash[i];
			b.images[kept++] = b.images[i];
		} else {
			free(b.images[i]);
		}
	}
	b.n = kept;

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct job *jobs = bm_calloc(b.jobs, sizeof *jobs);
	size_t next = 0, done = 0, skipped = 0, failed = 0, warned = 0;
	size_t started = 0;
	unsigned long long objects = 0;
	unsigned running = 0;
	/* Each iteration starts jobs up to the limit, then reaps one; the
	 * loop ends when every image has been started and reaped. */
	while (next < b.n || running) {
		while (running < b.jobs && next < b.n) {
			size_t i = next++;
			char *out = output_path(&b, b.images[i]);
			if (clash[i]) {
				fprintf(stderr, "bmapgen: %s: another image of "
					"that name would also write %s: not "
					"mapped (map them without -o, next to "
					"each image)\n", b.images[i], out);
				failed++;
				done++;
				free(out);
				continue;
			}
			if (!b.force && up_to_date(b.images[i], out)) {
				skipped++;
				done++;
				free(out);
				continue;
			}
			int p[2];
			if (pipe(p) < 0) {
				perror("bmapgen: pipe");
				free(out);
				failed++;
				done++;
				continue;
			}
			fflush(NULL);
			pid_t pid = fork();
			if (pid == 0) {
				close(p[0]);
				_exit(map_one(&b, b.images[i], out, p[1]));
			}
			close(p[1]);
			free(out);
			if (pid < 0) {
				perror("bmapgen: fork");
				close(p[0]);
				failed++;
				done++;
				continue;
			}
			started++;
			for (unsigned k = 0; k < b.jobs; k++)
				if (!jobs[k].pid) {
					jobs[k] = (struct job){ pid, p[0], i };
					break;
				}
			running++;
		}
		if (!running)
			break;
		int status;
		pid_t pid = wait(&status);
		if (pid < 0)
			break;
		for (unsigned k = 0; k < b.jobs; k++) {
			if (jobs[k].pid != pid)
				continue;
			char buf[64] = { 0 };
			unsigned long long nobj = 0, nr = 0;
			if (read(jobs[k].fd, buf, sizeof buf - 1) > 0 &&
			    sscanf(buf, "%llu %llu", &nobj, &nr) == 2)
				objects += nobj;
			close(jobs[k].fd);
			int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
			if (code == BM_WARN)
				warned++;
			else if (code != BM_OK) {
				failed++;
				fprintf(stderr, "bmapgen: %s: %s\n",
					b.images[jobs[k].index],
					code < 0 ? "mapping crashed" :
						   "could not be mapped");
			}
			jobs[k].pid = 0;
			running--;
			done++;
		}
		if (b.progress) {
			clock_gettime(CLOCK_MONOTONIC, &t1);
			double dt = (double)(t1.tv_sec - t0.tv_sec) +
				    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
			fprintf(stderr, "\r\033[K%zu/%zu images, %.1f/s, %s",
				done, b.n, dt > 0 ? (double)done / dt : 0.0,
				next < b.n ? b.images[next] : "");
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double dt = (double)(t1.tv_sec - t0.tv_sec) +
		    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (b.progress)
		fputs("\r\033[K", stderr);
	fprintf(stderr,
		"bmapgen: %zu images (%zu mapped, %zu up to date), %llu "
		"objects, %zu with warnings, %zu failed, %.2f s\n",
		b.n, started, skipped, objects, warned, failed, dt);
	for (size_t i = 0; i < b.n; i++)
		free(b.images[i]);
	free(b.images);
	free(jobs);
	free(clash);
	return failed ? BM_FAILED : warned ? BM_WARN : BM_OK;
}
