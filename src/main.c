/* bmapgen command line.
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch.h"
#include "bmapgen.h"
#include "commands.h"

#ifndef BM_VERSION
#define BM_VERSION "0"
#endif

static void usage(FILE *f)
{
	fputs("Usage: bmapgen [OPTION]... IMAGE...\n"
	      "       bmapgen lookup MAP|IMAGE [DISK:]OFFSET[+LEN]...\n"
	      "       bmapgen trace --map MAP|IMAGE [LOG]\n"
	      "Map every byte of the disk image(s) to the partition, volume,\n"
	      "file, directory or metadata that owns it (virt-bmap format).\n"
	      "\n"
	      "  -o, --output=FILE   write the map to FILE (default stdout)\n"
	      "  -f, --format=FMT    output format: virt-bmap (default), json,\n"
	      "                      jsonl, bmaptool\n"
	      "      --stream        with -f jsonl: write each range as it is\n"
	      "                      mapped (unsorted; the map is not kept\n"
	      "                      in memory)\n"
	      "      --input-format=FMT\n"
	      "                      image format: auto (default; qcow2 is\n"
	      "                      recognised), raw, qcow2\n"
	      "  -v, --verbose       say what is found on stderr\n"
	      "  -h, --help          this help\n"
	      "  -V, --version       print the version\n"
	      "\n"
	      "Several IMAGEs are the disks of one machine: /dev/sda, /dev/sdb...\n"
	      "An IMAGE may be a raw file, a block device, a qcow2 image or an\n"
	      "NBD URI (nbd://HOST/EXPORT, nbd+unix:///?socket=PATH).\n"
	      "Exit status: 0 mapped cleanly, 1 mapped with warnings, 2 could\n"
	      "not map.  See bmapgen(1).\n",
	      f);
}

/* Open the -o FILE: a temporary next to it (*TMP), renamed at the end
 * so a reader never sees half a map.  NULL after a message. */
static FILE *open_output(const char *output, char **tmp)
{
	*tmp = bm_asprintf("%s.tmpXXXXXX", output);
	int fd = mkstemp(*tmp);
	FILE *out = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!out) {
		fprintf(stderr, "bmapgen: cannot write %s: %s\n", output,
			strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(*tmp);
		}
		free(*tmp);
		*tmp = NULL;
		return NULL;
	}
	/* mkstemp makes 0600; a map is an ordinary file. */
	mode_t um = umask(0);
	umask(um);
	fchmod(fd, 0666 & ~um);
	return out;
}

int main(int argc, char **argv)
{
	/* --stream writes the map while mapping: only the plain map
	 * command does that (batch, check, lookup and trace need the
	 * whole map, or write their own). */
	bool stream_arg = false, batch_arg = false;
	for (int i = 1; i < argc; i++) {
		stream_arg |= strcmp(argv[i], "--stream") == 0;
		batch_arg |= strcmp(argv[i], "--batch") == 0;
	}
	if (stream_arg && argc > 1 &&
	    (batch_arg || strcmp(argv[1], "check") == 0 ||
	     strcmp(argv[1], "lookup") == 0 || strcmp(argv[1], "trace") == 0)) {
		fputs("bmapgen: --stream only works when mapping images to "
		      "-f jsonl, not with --batch, check, lookup or trace\n",
		      stderr);
		return 2;
	}
	if (argc > 1 && strcmp(argv[1], "check") == 0)
		return bm_check_main(argc - 1, argv + 1);
	/* Batch mode has options of its own. */
	if (batch_arg)
		return bm_batch_main(argc, argv);
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, 'f' },
		{ "input-format", required_argument, NULL, 'I' },
		{ "stream", no_argument, NULL, 'S' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	/* Subcommands.  (An image named "lookup" or "trace" can be given
	 * as ./lookup.) */
	if (argc > 1 && strcmp(argv[1], "lookup") == 0)
		return bm_cmd_lookup(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "trace") == 0)
		return bm_cmd_trace(argc - 1, argv + 1);

	struct bm_options opts = { .output_format = "virt-bmap" };
	const char *output = NULL;
	bool stream = false;
	int c;
	while ((c = getopt_long(argc, argv, "o:f:vhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			output = optarg;
			break;
		case 'f':
			opts.output_format = optarg;
			break;
		case 'I':
			if (strcmp(optarg, "auto") != 0 &&
			    strcmp(optarg, "raw") != 0 &&
			    strcmp(optarg, "qcow2") != 0) {
				fprintf(stderr, "bmapgen: unknown input format "
					"'%s'\n", optarg);
				return 2;
			}
			opts.input_format = optarg;
			break;
		case 'S':
			stream = true;
			break;
		case 'v':
			opts.verbose++;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("bmapgen %s\n", BM_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	static const char *const formats[] = { "virt-bmap", "json", "jsonl",
					       "bmaptool" };
	size_t fmt = 0;
	while (fmt < 4 && strcmp(opts.output_format, formats[fmt]) != 0)
		fmt++;
	if (fmt == 4) {
		fprintf(stderr, "bmapgen: unknown output format '%s'\n",
			opts.output_format);
		return 2;
	}
	if (stream && fmt != 2) {
		fputs("bmapgen: --stream needs -f jsonl\n", stderr);
		return 2;
	}
	if (fmt == 3 && argc - optind != 1) {
		fputs("bmapgen: the bmaptool format describes one image\n",
		      stderr);
		return 2;
	}

	struct bm_ctx *ctx = bm_ctx_new(&opts);
	FILE *out = stdout;
	char *tmp = NULL;
	if (stream) {
		/* The map is written while mapping: open it first. */
		if (output && !(out = open_output(output, &tmp))) {
			bm_ctx_free(ctx);
			return 2;
		}
		bm_ctx_stream(ctx, out);
	}
	unsigned opened = 0;
	for (int i = optind; i < argc; i++)
		if (bm_open_disk(ctx, argv[i]))
			opened++;
	if (opened == 0) {
		if (tmp) {
			fclose(out);
			unlink(tmp);
			free(tmp);
		}
		bm_ctx_free(ctx);
		return 2;
	}
	bm_map_all(ctx);

	if (output && !stream && !(out = open_output(output, &tmp))) {
		bm_ctx_free(ctx);
		return 2;
	}
	int err;
	switch (stream ? -1 : (int)fmt) {
	case -1:
		err = bm_ctx_stream_end(ctx);
		break;
	case 1:
	case 2:
		err = bm_write_json(ctx, out, fmt == 2);
		break;
	case 3:
		err = bm_write_bmaptool(ctx, out);
		break;
	default:
		err = bm_write_virtbmap(ctx, out);
		break;
	}
	if (fflush(out) != 0 || ferror(out))
		err = -1;
	if (output) {
		if (fclose(out) != 0)
			err = -1;
		if (err == 0 && rename(tmp, output) != 0)
			err = -1;
		if (err)
			unlink(tmp);
		free(tmp);
	}
	int status = bm_ctx_status(ctx);
	bm_ctx_free(ctx);
	if (err) {
		fprintf(stderr, "bmapgen: error writing the map: %s\n",
			strerror(errno));
		return 2;
	}
	return status;
}
