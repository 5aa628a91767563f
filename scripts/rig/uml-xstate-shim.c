/*
 * uml-xstate-shim.c — LD_PRELOAD library that lets Debian's user-mode Linux boot on hosts whose
 * XSAVE area is larger than the one UML was built for (AMX: Sapphire Rapids and later).
 *
 * Build: cc -O2 -shared -fPIC -o uml-xstate-shim.so uml-xstate-shim.c -ldl
 * Use:   LD_PRELOAD=/path/uml-xstate-shim.so linux.uml …   (scripts/vtl-run does both)
 *
 * The problem. UML traces its guest processes with ptrace and, around every guest system call,
 * reads their FP/vector state with PTRACE_GETREGSET NT_X86_XSTATE and writes it back with
 * PTRACE_SETREGSET, both with a buffer of a size fixed when UML was built (2696 bytes for
 * Debian's 6.1: legacy area, header, AVX, MPX, AVX-512, PKRU). The host kernel answers a short
 * read with the first bytes of the state, but its xstateregs_set() takes a write only when the
 * buffer is exactly the host's full user XSAVE size (fpu_user_cfg.max_size: 11008 bytes with
 * AMX's 8 KiB of tile data) and fails with EFAULT otherwise; UML then prints "ptrace set fp regs
 * failed, errno = 14" and the guest's init dies. (A buffer longer than the host's size is fine:
 * the kernel cuts it to its size before the check, so hosts without AVX-512 never failed.)
 * Later mainline UML sizes the buffer from the host (host_fp_size); Debian 12's 6.1 package does
 * not.
 *
 * The fix. This library wraps ptrace() and widens exactly that one request: a PTRACE_SETREGSET
 * of NT_X86_XSTATE whose buffer is shorter than the host's size (but holds at least the legacy
 * area and the XSAVE header). The caller's bytes are copied into a host-sized buffer and the
 * rest is zero-filled. Every other call, and this one when the sizes already agree, goes to
 * glibc's ptrace() unchanged; the caller's iovec is left as the caller wrote it.
 *
 * Why zero-filling is what the kernel expects. The XSAVE header (bytes 512..575) travels
 * untouched from the caller's buffer:
 *   - XSTATE_BV (the kernel's "xfeatures") says which components the buffer carries; the kernel
 *     loads a component from the buffer when its bit is set and puts it in its init state when
 *     the bit is clear. The components past the caller's buffer (AMX TILECFG and TILEDATA here)
 *     have the init value zero, so whichever way the caller left their bits, the tracee ends up
 *     with them in their init state. That is the only state they can have under UML: a guest
 *     process would need the host's arch_prctl(ARCH_REQ_XCOMP_PERM) to use AMX, and UML handles
 *     a guest's system calls itself, so the permission is never granted.
 *   - XCOMP_BV must stay zero: the ptrace interface uses the standard (uncompacted) format, in
 *     which every component sits at its CPUID-given offset, so the caller's bytes are at the
 *     right place in the wider buffer. The kernel rejects a non-zero XCOMP_BV and non-zero
 *     reserved header bytes (EINVAL); both come from the caller as the kernel gave them out.
 *   - A buffer too short to hold the whole header is passed on unchanged (the kernel refuses
 *     it as before): widening it would fabricate an all-zero header, i.e. silently reset the
 *     tracee's whole FP state.
 *
 * The host's size. Asked of the kernel itself, once per process: PTRACE_GETREGSET of
 * NT_X86_XSTATE on the very tracee being written, with a buffer that is certainly large enough,
 * returns in iov_len the regset's full size, which is the same fpu_user_cfg.max_size that
 * xstateregs_set() compares against. CPUID leaf 0Dh (EBX: size for the features enabled in XCR0)
 * gives the same number on today's kernels, but only by way of how the kernel happens to compute
 * its limit; asking the interface that judges the write cannot drift from it (a hypervisor's
 * CPUID quirks or a kernel that leaves a feature out of its user ABI do not matter). CPUID's ECX
 * (size for every feature the CPU supports) only bounds the probe buffer: the kernel cannot use
 * more than the CPU has.
 *
 * Memory: UML calls ptrace() from its kernel threads, whose stacks are small, so the wide buffer
 * is never on the stack; one buffer is mmap'ed on first use and shared under a try-lock (a
 * second concurrent caller gets a temporary mapping). No thread-local storage: UML's host threads
 * are raw clone()s without glibc's TLS set up.
 *
 * Testing hook: with VTL_UML_SHIM_FAIL_FP=1 in the environment, every write of FP state
 * (PTRACE_SETFPREGS, PTRACE_SETREGSET of NT_PRFPREG or NT_X86_XSTATE) fails with EFAULT, which
 * reproduces the AMX failure on any host (scripts/vtl-run's VTL_UML_BROKEN=1 uses it to show
 * the qemu fallback).
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif

/* Legacy FXSAVE area (512) + XSAVE header (64). */
#define XSAVE_HEADER_END 576

typedef long (*ptrace_fn)(enum __ptrace_request, pid_t, void *, void *);

static ptrace_fn real_ptrace;
static int fail_fp;
static size_t host_size;  /* 0 until known */
static size_t probe_size; /* CPUID's bound for any XSAVE area on this CPU */
static unsigned char *shared_buf;
static char shared_busy;

__attribute__((constructor)) static void shim_init(void)
{
	unsigned int eax, ebx, ecx, edx;
	const char *f = getenv("VTL_UML_SHIM_FAIL_FP");

	real_ptrace = (ptrace_fn)dlsym(RTLD_NEXT, "ptrace");
	fail_fp = f && f[0] == '1';
	if (__get_cpuid_count(0xd, 0, &eax, &ebx, &ecx, &edx))
		probe_size = ecx > ebx ? ecx : ebx;
}

static unsigned char *map(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* The buffer for one widened call: the shared one if free, else a temporary mapping. */
static unsigned char *take(int *temporary)
{
	*temporary = 0;
	if (!__atomic_test_and_set(&shared_busy, __ATOMIC_ACQUIRE)) {
		if (!shared_buf)
			shared_buf = map(probe_size);
		if (shared_buf)
			return shared_buf;
		__atomic_clear(&shared_busy, __ATOMIC_RELEASE);
		return NULL;
	}
	*temporary = 1;
	return map(probe_size);
}

static void give_back(unsigned char *buf, int temporary)
{
	if (temporary)
		munmap(buf, probe_size);
	else
		__atomic_clear(&shared_busy, __ATOMIC_RELEASE);
}

/* The host's XSAVE size as the kernel's regset reports it, or 0 when it cannot be learned. */
static size_t learn_host_size(pid_t pid, unsigned char *buf)
{
	struct iovec iov = { .iov_base = buf, .iov_len = probe_size };
	int saved = errno;
	size_t n = 0;

	if (real_ptrace(PTRACE_GETREGSET, pid, (void *)(uintptr_t)NT_X86_XSTATE, &iov) == 0)
		n = iov.iov_len;
	errno = saved;
	return n;
}

static long set_xstate(pid_t pid, void *addr, struct iovec *iov)
{
	unsigned char *buf;
	int temporary;
	size_t size;
	long r;

	if (!iov || iov->iov_len < XSAVE_HEADER_END || !probe_size)
		return real_ptrace(PTRACE_SETREGSET, pid, addr, iov);
	size = __atomic_load_n(&host_size, __ATOMIC_RELAXED);
	if (size && iov->iov_len >= size)
		return real_ptrace(PTRACE_SETREGSET, pid, addr, iov);

	buf = take(&temporary);
	if (!buf)
		return real_ptrace(PTRACE_SETREGSET, pid, addr, iov);
	if (!size) {
		size = learn_host_size(pid, buf);
		if (size)
			__atomic_store_n(&host_size, size, __ATOMIC_RELAXED);
	}
	if (size <= iov->iov_len || size > probe_size) {
		give_back(buf, temporary);
		return real_ptrace(PTRACE_SETREGSET, pid, addr, iov);
	}
	memcpy(buf, iov->iov_base, iov->iov_len);
	memset(buf + iov->iov_len, 0, size - iov->iov_len);
	{
		struct iovec wide = { .iov_base = buf, .iov_len = size };
		int saved;

		r = real_ptrace(PTRACE_SETREGSET, pid, addr, &wide);
		saved = errno;
		give_back(buf, temporary);
		errno = saved;
	}
	return r;
}

long ptrace(enum __ptrace_request request, ...)
{
	va_list ap;
	pid_t pid;
	void *addr, *data;

	/* glibc's ptrace() reads all three arguments whatever the request; so do we. */
	va_start(ap, request);
	pid = va_arg(ap, pid_t);
	addr = va_arg(ap, void *);
	data = va_arg(ap, void *);
	va_end(ap);

	if (!real_ptrace) {
		errno = ENOSYS;
		return -1;
	}
	if (fail_fp && (request == PTRACE_SETFPREGS ||
			(request == PTRACE_SETREGSET && ((uintptr_t)addr == NT_PRFPREG ||
							 (uintptr_t)addr == NT_X86_XSTATE)))) {
		errno = EFAULT;
		return -1;
	}
	if (request == PTRACE_SETREGSET && (uintptr_t)addr == NT_X86_XSTATE)
		return set_xstate(pid, addr, data);
	return real_ptrace(request, pid, addr, data);
}
