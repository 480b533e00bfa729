// --help texts. Every exit code is listed here and in the README.

export const EXIT_CODES_HELP = `
Exit status:
  the command's own status, or 128+N if it was killed by signal N
    1  conflict (-n) or timeout (-w); change with -E (and --timeout-exit-code)
   64  usage error
   65  the lock call failed unexpectedly
   66  the lock file could not be opened
   69  the command could not be executed
   70  internal error
   71  out of descriptors, memory or kernel lock records
   73  the lock file could not be created (read-only file system, no space)
`

export const RUN_HELP = `Usage:
 locksmith [options] <file> <command> [<argument>...]
 locksmith [options] <file> -c <command>
 locksmith [options] <fd>
 locksmith status [--json] [<file>...]
 locksmith wrapper <command> [<argument>...]

Run a command while holding a file lock; compatible with util-linux flock(1).

Options:
 -s, --shared             get a shared lock
 -x, --exclusive          get an exclusive lock (default)
     --mode <mode>        'exclusive' or 'shared'
 -u, --unlock             remove the lock (with <fd> only)
 -n, --nonblock           fail rather than wait
 -w, --timeout <secs>     wait at most this long (fractions allowed; 0 = -n)
 -E, --conflict-exit-code <number>
                          exit code after conflict or timeout (default 1)
     --timeout-exit-code <number>
                          exit code after a timeout (default: the -E value)
 -o, --close              do not let the command inherit the lock descriptor
                          (the lock then ends with locksmith, not the command)
 -c, --command <command>  run a single command string through the shell
 -F, --no-fork            accepted for flock(1) compatibility; the command
                          still runs as a child (see the README)
     --backend <name>     flock (default), ofd, posix, auto (windows on Windows)
     --fcntl              same as --backend ofd
     --start <offset>     first byte of a byte-range lock (implies --fcntl)
     --length <number>    bytes to lock; 0 = to the end (implies --fcntl)
     --permissions <octal>
                          mode of a newly created lock file (default 644)
     --verbose            report the time waited and what is executed

 -h, --help               display this help
 -V, --version            display version

A signal locksmith receives (INT, TERM, HUP, QUIT, USR1, USR2) is passed on to
the command. Options end at the file name: what follows is the command.
With <fd>, the lock is taken on a descriptor inherited from the caller
(exec 9>file; locksmith -n 9) and stays with it after locksmith exits.
Use './status' or '-- status' for a lock file named like a subcommand.
${EXIT_CODES_HELP}`

export const STATUS_HELP = `Usage:
 locksmith status [--json] [<file>...]

Show who holds or waits for file locks (Linux): the lock's kind (flock, ofd,
posix), mode, state, byte range, and each process with its command line.
Without files, every lock on the system is listed.

Options:
     --json               print a JSON array for scripts
 -h, --help               display this help

Processes are found through /proc/<pid>/fdinfo and, for OFD waiters, the
system call they are blocked in; other users' processes are visible to root
only (for them /proc/locks gives a pid for flock and POSIX locks, none for OFD).

Exit status:
    0  at least one lock was found
    1  no lock was found
   64  usage error
   66  a file could not be examined (it is reported, the others still are)
   69  /proc/locks is not available (not Linux)
`

export const WRAPPER_HELP = `Usage:
 locksmith wrapper <command> [<argument>...]

Run a command with a fresh private lock directory (mode 0700) exported as
LOCKSMITH_LOCK_PATH, and remove the directory when the command ends, however
it ends. Named locks taken by the command (and its children) live there.

Options:
 -h, --help               display this help

Exit status:
  the command's own status, or 128+N if it was killed by signal N
   64  usage error
   69  the command could not be executed
   73  the lock directory could not be created
`
