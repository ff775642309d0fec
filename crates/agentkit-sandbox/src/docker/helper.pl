# The `docker` backend's helper, run by perl inside the container (see helper.rs).
# Only perl's core (perl-base) is used: strict, warnings, POSIX.
#
#   helper.pl init
#       PID 1 of the container. Reaps orphans, and carries out kill requests:
#       a file `kill/TOKEN` next to this script (the host writes it; the
#       directory is read-only inside) means "kill command TOKEN and every
#       process it started". Requests are swept every 250 ms and at once on
#       SIGUSR1. PID 1 of a PID namespace gets only the signals it handles, so
#       commands cannot kill it (and SIGTERM is deliberately not handled).
#
#   helper.pl exec TOKEN CPU_SECONDS N K1=V1 .. KN=VN argv PROGRAM ARGS...
#   helper.pl exec TOKEN CPU_SECONDS N K1=V1 .. KN=VN script SCRIPT
#       Runs one command (the "wrapper"). It becomes a child subreaper, so
#       every process the command starts stays below it even when orphaned;
#       forks; the child starts a new session, takes exactly the environment
#       given (nothing else), lowers RLIMIT_CPU when CPU_SECONDS > 0 and execs
#       the program (a script: `bash -c`, or `sh -c` where bash is missing).
#       When the command has ended and nothing it left behind holds the output
#       open any more (such processes get a second, then are killed), the
#       wrapper writes the status trailer as the very last bytes of stdout:
#
#           "\0agentkit-status TOKEN exit CODE\n"
#           "\0agentkit-status TOKEN signal NUMBER\n"
#           "\0agentkit-status TOKEN spawn ERRNO MESSAGE\n"   (exec failed)
#
#       and exits with CODE, 128 + NUMBER or 127 (what the Docker API reports
#       as the exec's exit code, which cannot tell a signal from an exit).
use strict;
use warnings;
use POSIX ();

my ($DIR) = __FILE__ =~ m{^(.*)/[^/]*$};
$DIR = '.' unless defined $DIR;
my $KILL_DIR = "$DIR/kill";
my $TOKEN_RE = qr/^[0-9a-f]{1,64}$/;

# Linux syscall numbers (perl-base has no prctl or setrlimit).
my %SYSCALLS = (
    x86_64  => { prctl => 157, setrlimit => 160 },
    aarch64 => { prctl => 167, setrlimit => 164 },
    riscv64 => { prctl => 167, setrlimit => 164 },
);
my $SYSCALL = $SYSCALLS{ (POSIX::uname())[4] };
use constant { PR_SET_CHILD_SUBREAPER => 36, RLIMIT_CPU => 0 };

my $mode = shift @ARGV;
$mode = '' unless defined $mode;
if ($mode eq 'init') {
    init();
} elsif ($mode eq 'exec') {
    run_command(@ARGV);
} else {
    print STDERR "usage: helper.pl init | exec TOKEN CPU_SECONDS N [K=V...] (argv PROGRAM [ARGS...] | script SCRIPT)\n";
    POSIX::_exit(2);
}

# ---------------------------------------------------------------- PID 1

sub init {
    $SIG{USR1} = sub { };    # only there to cut the sleep short
    my %idle;
    while (1) {
        reap();
        if (opendir(my $dh, $KILL_DIR)) {
            for my $token (grep { $_ =~ $TOKEN_RE } readdir $dh) {
                # A request whose command is long gone stops being looked at.
                next if ($idle{$token} || 0) >= 40;
                $idle{$token} = kill_command($token) ? 0 : ($idle{$token} || 0) + 1;
            }
            closedir $dh;
        }
        select(undef, undef, undef, 0.25);
    }
}

# Kills every process below the wrapper(s) of TOKEN, then the wrappers.
# Returns how many signals were sent.
sub kill_command {
    my ($token) = @_;
    my $procs = processes();
    my @wrappers = grep { is_wrapper($_, $token) } keys %$procs;
    return 0 unless @wrappers;
    my $sent = kill_trees(\@wrappers, []);
    $sent += kill('KILL', @wrappers);
    return $sent;
}

sub is_wrapper {
    my ($pid, $token) = @_;
    open(my $fh, '<', "/proc/$pid/cmdline") or return 0;
    local $/;
    my $cmdline = <$fh>;
    close $fh;
    return 0 unless defined $cmdline;
    my @argv = split /\0/, $cmdline;
    return @argv > 3 && $argv[1] =~ m{helper\.pl$} && $argv[2] eq 'exec' && $argv[3] eq $token;
}

# ---------------------------------------------------------- the wrapper

sub run_command {
    my ($token, $cpu, $count, @rest) = @_;
    usage() unless defined $count && $token =~ $TOKEN_RE && $cpu =~ /^[0-9]+$/ && $count =~ /^[0-9]+$/;
    my %env;
    for (1 .. $count) {
        my $pair = shift @rest;
        usage() unless defined $pair && $pair =~ /^([^=]+)=(.*)$/s;
        $env{$1} = $2;
    }
    my $kind = shift @rest;
    usage() unless defined $kind && @rest;
    my @candidates;
    if ($kind eq 'script') {
        @candidates = (['bash', '-c', $rest[0]], ['sh', '-c', $rest[0]]);
    } elsif ($kind eq 'argv') {
        @candidates = ([@rest]);
    } else {
        usage();
    }
    # Cancelled before it started.
    POSIX::_exit(137) if -e "$KILL_DIR/$token";

    if ($SYSCALL) {
        syscall($SYSCALL->{prctl}, PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
    my ($r, $w);
    pipe($r, $w) or finish($token, 'spawn ' . ($! + 0) . " cannot create a pipe: $!", 127);
    my $child = fork();
    defined $child or finish($token, 'spawn ' . ($! + 0) . " cannot fork: $!", 127);
    if ($child == 0) {
        close $r;
        POSIX::setsid();
        %ENV = %env;
        if ($cpu > 0) {
            my $limit = pack('QQ', $cpu, $cpu + 1);
            if (!$SYSCALL || syscall($SYSCALL->{setrlimit}, RLIMIT_CPU, $limit) != 0) {
                syswrite($w, '0 the CPU limit cannot be applied on ' . (POSIX::uname())[4]);
                POSIX::_exit(127);
            }
        }
        my ($errno, $message) = (0, '');
        for my $argv (@candidates) {
            { no warnings 'exec'; exec { $argv->[0] } @$argv; }
            ($errno, $message) = ($! + 0, "$!");
            last unless $kind eq 'script' && $errno == POSIX::ENOENT();
        }
        syswrite($w, "$errno $message");
        POSIX::_exit(127);
    }
    close $w;
    $SIG{PIPE} = 'IGNORE';
    open(STDIN, '<', '/dev/null');    # the command has its own copy
    my $failed = '';
    while (!defined sysread($r, $failed, 1024)) {
        last unless $! == POSIX::EINTR();
    }
    close $r;
    my $status = wait_for($child);
    finish($token, "spawn $failed", 127) if length $failed;
    release_output();
    my $signal = $status & 127;
    finish($token, "signal $signal", 128 + $signal) if $signal;
    my $code = ($status >> 8) & 255;
    finish($token, "exit $code", $code);
}

sub usage {
    print STDERR "helper.pl exec: malformed arguments\n";
    POSIX::_exit(2);
}

# Waits for CHILD, reaping adopted orphans on the way; returns its status.
sub wait_for {
    my ($child) = @_;
    while (1) {
        my $pid = waitpid(-1, 0);
        return $? if $pid == $child;
        return 0 if $pid < 0 && $! != POSIX::EINTR();
    }
}

# The command has ended. Processes it left behind that still hold our stdout
# or stderr get a second to let go; then they and everything below us die.
sub release_output {
    for (1 .. 20) {
        reap();
        return unless holders();
        select(undef, undef, undef, 0.05);
    }
    for (1 .. 20) {
        my @holders = holders();
        kill_trees([$$], \@holders);
        reap();
        last unless @holders;
    }
}

# Processes other than us with our stdout or stderr pipe open.
sub holders {
    my %mine;
    for my $fd (1, 2) {
        my $link = readlink("/proc/$$/fd/$fd");
        $mine{$link} = 1 if defined $link && $link =~ /^pipe:/;
    }
    return () unless %mine;
    my @found;
    opendir(my $dh, '/proc') or return ();
    for my $pid (grep { /^[0-9]+$/ && $_ != $$ } readdir $dh) {
        opendir(my $fds, "/proc/$pid/fd") or next;
        for my $fd (readdir $fds) {
            my $link = readlink("/proc/$pid/fd/$fd");
            if (defined $link && $mine{$link}) {
                push @found, $pid;
                last;
            }
        }
        closedir $fds;
    }
    closedir $dh;
    return @found;
}

sub finish {
    my ($token, $what, $code) = @_;
    syswrite(STDOUT, "\0agentkit-status $token $what\n");
    POSIX::_exit($code & 255);
}

# ------------------------------------------------------------- processes

sub reap {
    1 while waitpid(-1, POSIX::WNOHANG()) > 0;
}

# pid => [state, ppid, session] for every process we can see.
sub processes {
    my %procs;
    opendir(my $dh, '/proc') or return \%procs;
    for my $pid (grep { /^[0-9]+$/ } readdir $dh) {
        open(my $fh, '<', "/proc/$pid/stat") or next;
        my $stat = <$fh>;
        close $fh;
        next unless defined $stat;
        my $end = rindex($stat, ')');
        next if $end < 0;
        my @fields = split ' ', substr($stat, $end + 1);
        $procs{$pid} = [$fields[0], $fields[1], $fields[3]];
    }
    closedir $dh;
    return \%procs;
}

# Everything below ROOTS (not the roots), plus the members of any session
# led by one of those processes (they may have left the tree).
sub below {
    my ($procs, @roots) = @_;
    my %children;
    for my $pid (keys %$procs) {
        push @{ $children{ $procs->{$pid}[1] } }, $pid;
    }
    my %seen = map { $_ => 1 } @roots;
    my @todo = @roots;
    my @found;
    while (defined(my $pid = shift @todo)) {
        for my $child (@{ $children{$pid} || [] }) {
            next if $seen{$child}++;
            push @found, $child;
            push @todo, $child;
        }
    }
    my %leads = map { $_ => 1 } grep { $procs->{$_}[2] == $_ } @found;
    push @found, grep { !$seen{$_} && $leads{ $procs->{$_}[2] } } keys %$procs;
    return @found;
}

# SIGKILLs everything below ROOTS and the EXTRA pids, round after round,
# until a scan finds nothing alive (a process may fork between scan and kill).
sub kill_trees {
    my ($roots, $extra) = @_;
    my $sent = 0;
    for (1 .. 200) {
        my $procs = processes();
        my @targets = grep {
            my $p = $procs->{$_};
            $p && $p->[0] ne 'Z' && $p->[0] ne 'X' && $_ != 1 && $_ != $$
        } (below($procs, @$roots), @$extra);
        last unless @targets;
        $sent += kill('KILL', @targets);
        $extra = [];
    }
    return $sent;
}
