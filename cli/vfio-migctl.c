/*
 * vfio-migctl.c: the command-line client of the control API.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv);

int
main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "vfio-migctl: not implemented yet\n");
	return 2;
}
