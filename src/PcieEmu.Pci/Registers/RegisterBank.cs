using Microsoft.Extensions.Logging;
using PcieEmu.Pci.Bars;
using PcieEmu.Pci.Checking;

namespace PcieEmu.Pci.Registers;

/// <summary>
/// Applies register semantics generically so devices never do mask arithmetic: writable bits take the written
/// value, W1C bits clear where 1 is written, read-only bits keep their value, write-only bits read 0,
/// read-clear bits clear after a read. Narrow accesses touch only their byte lanes; an 8-byte access over two
/// 32-bit registers becomes two accesses. Unclaimed offsets read all-ones and ignore writes (logged, rate-limited).
/// Once installed as a function's BAR handler the bank also checks the register-file rules of
/// <see cref="FunctionRules"/>: undecoded offsets, read-only registers and reserved bits written, and (when the
/// device's spec fixes it, <see cref="LowHalfFirst"/>) the order of a 64-bit register's halves.
/// <para>
/// Define every register before the function is built. After that, call everything under the function lock
/// (<see cref="PciFunction.Sync"/>): bus accesses run under it, and so do the write and read handlers, which may call
/// <see cref="Get"/>, <see cref="Set"/> and friends directly.
/// </para>
/// </summary>
public sealed partial class RegisterBank : IMmioHandler
{
    private readonly ILogger _logger;
    private readonly List<RegisterDefinition> _registers = [];
    private readonly int[] _indexByDword;
    private ulong[] _values = [];
    private bool[] _lowHalfWritten = [];
    private long _unclaimedAccesses;
    private DriverChecker? _checker;
    private int _bar;

    /// <summary>Largest bank: 16 MiB (the dword index costs 4 bytes per 4 bytes of bank). Model schemas cap register BARs here.</summary>
    public const ulong MaxSize = 16 << 20;

    /// <param name="name">The bank's name in logs and reports ("registers").</param>
    /// <param name="size">Bytes of BAR the bank decodes: a non-zero multiple of 4, at most <see cref="MaxSize"/>; usually the BAR's size.</param>
    /// <param name="logger">Where unclaimed accesses and reserved-bit writes are logged (rate-limited).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="size"/> is 0, not a multiple of 4 or above <see cref="MaxSize"/>.</exception>
    public RegisterBank(string name, ulong size, ILogger logger)
    {
        if (size == 0 || size > MaxSize || (size & 3) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(size), size, "register bank size must be a non-zero multiple of 4 up to 16 MiB");
        }

        Name = name;
        Size = size;
        _logger = logger;
        _indexByDword = new int[size / 4];
    }

    /// <summary>The bank's name in logs and reports.</summary>
    public string Name { get; }

    /// <summary>Bytes the bank decodes, from offset 0.</summary>
    public ulong Size { get; }

    /// <summary>The defined registers in definition order (with the reset values <see cref="SetResetValue"/> set).</summary>
    public IReadOnlyList<RegisterDefinition> Registers => _registers;

    /// <summary>Guest accesses that touched at least one byte no register covers; read from any thread.</summary>
    public long UnclaimedAccesses => Interlocked.Read(ref _unclaimedAccesses);

    /// <summary>
    /// The device's spec says a 64-bit register written in two 32-bit halves takes its low half first (Linux's
    /// lo_hi_writeq); a high half not preceded by its low half is then <see cref="FunctionRules.RegisterHalvesOutOfOrder"/>.
    /// </summary>
    public bool LowHalfFirst { get; set; }

    /// <summary>Called by the function builder when the bank becomes BAR <paramref name="bar"/>'s handler: where rule breaks go.</summary>
    internal void AttachChecker(DriverChecker checker, int bar)
    {
        _checker = checker;
        _bar = bar;
    }

    /// <summary>Adds a register, at its reset value.</summary>
    /// <exception cref="ArgumentException">
    /// The width is not 4 or 8, the offset is not width-aligned or lies outside the bank, a mask has bits beyond the
    /// width, a bit is both writable and W1C, or the register overlaps one already defined.
    /// </exception>
    public void Define(RegisterDefinition register)
    {
        if (register.Width is not (4 or 8))
        {
            throw new ArgumentException($"{register.Name}: width must be 4 or 8 bytes", nameof(register));
        }

        if (register.Offset % (uint)register.Width != 0 || register.Offset + (ulong)register.Width > Size)
        {
            throw new ArgumentException($"{register.Name}: offset 0x{register.Offset:x} misaligned or outside {Name}", nameof(register));
        }

        ulong width = register.WidthMask;
        if (((register.ImplementedMask | register.WritableMask | register.W1cMask | register.ReadMask | register.ReadClearMask) & ~width) != 0)
        {
            throw new ArgumentException($"{register.Name}: masks exceed the register width", nameof(register));
        }

        if (((register.WritableMask | register.W1cMask) & register.WritableMask & register.W1cMask) != 0)
        {
            throw new ArgumentException($"{register.Name}: a bit cannot be both writable and W1C", nameof(register));
        }

        int first = (int)(register.Offset / 4);
        int dwords = register.Width / 4;
        for (int i = 0; i < dwords; i++)
        {
            if (_indexByDword[first + i] != 0)
            {
                var other = _registers[_indexByDword[first + i] - 1];
                throw new ArgumentException($"{register.Name} overlaps {other.Name} at 0x{register.Offset:x}", nameof(register));
            }
        }

        _registers.Add(register);
        for (int i = 0; i < dwords; i++)
        {
            _indexByDword[first + i] = _registers.Count;
        }

        Array.Resize(ref _values, _registers.Count);
        Array.Resize(ref _lowHalfWritten, _registers.Count);
        _values[^1] = register.ResetValue & register.WidthMask;
    }

    /// <summary>Adds each register in order (<see cref="Define"/>); stops at the first bad one, keeping those before it.</summary>
    /// <exception cref="ArgumentException">A register is invalid or overlaps another (see <see cref="Define"/>).</exception>
    public void DefineAll(IEnumerable<RegisterDefinition> registers)
    {
        foreach (var r in registers)
        {
            Define(r);
        }
    }

    /// <summary>Every register back to its reset value. No side effects run.</summary>
    public void Reset()
    {
        for (int i = 0; i < _registers.Count; i++)
        {
            _values[i] = _registers[i].ResetValue & _registers[i].WidthMask;
        }

        Array.Clear(_lowHalfWritten);
    }

    /// <summary>Device-side read of the stored value (no read handler, no read-clear).</summary>
    /// <param name="offset">Any offset inside the register (normally its first byte).</param>
    /// <exception cref="ArgumentOutOfRangeException">No register covers <paramref name="offset"/>.</exception>
    public ulong Get(uint offset) => _values[IndexOf(offset)];

    /// <summary>Device-side store, ignoring masks (hardware sets status and read-only fields this way); runs no handler.</summary>
    /// <param name="offset">Any offset inside the register.</param>
    /// <param name="value">The new value; bits beyond the register's width are dropped.</param>
    /// <exception cref="ArgumentOutOfRangeException">No register covers <paramref name="offset"/>.</exception>
    public void Set(uint offset, ulong value)
    {
        int i = IndexOf(offset);
        _values[i] = value & _registers[i].WidthMask;
    }

    /// <summary>Device-side: sets <paramref name="bits"/> in the stored value (as <see cref="Set"/>: no masks, no handler).</summary>
    /// <exception cref="ArgumentOutOfRangeException">No register covers <paramref name="offset"/>.</exception>
    public void SetBits(uint offset, ulong bits) => Set(offset, Get(offset) | bits);

    /// <summary>Device-side: clears <paramref name="bits"/> in the stored value (as <see cref="Set"/>: no masks, no handler).</summary>
    /// <exception cref="ArgumentOutOfRangeException">No register covers <paramref name="offset"/>.</exception>
    public void ClearBits(uint offset, ulong bits) => Set(offset, Get(offset) & ~bits);

    /// <summary>Sets a register's reset value at configuration time (values that come from a model file), and its current value to it.</summary>
    /// <exception cref="ArgumentOutOfRangeException">No register covers <paramref name="offset"/>.</exception>
    public void SetResetValue(uint offset, ulong value)
    {
        int i = IndexOf(offset);
        _registers[i] = _registers[i] with { ResetValue = value & _registers[i].WidthMask };
        _values[i] = _registers[i].ResetValue;
    }

    /// <summary>The register covering byte <paramref name="offset"/>, or null (a hole, or beyond the bank).</summary>
    public RegisterDefinition? Find(ulong offset)
    {
        if (offset >= Size)
        {
            return null;
        }

        int idx = _indexByDword[offset / 4];
        return idx == 0 ? null : _registers[idx - 1];
    }

    /// <summary>
    /// A guest read: the register's value through its read handler and read mask, shifted to the accessed lanes;
    /// read-clear bits in those lanes clear afterwards. An access over several registers is split; bytes no register
    /// covers read 0xFF (logged, and reported as <see cref="FunctionRules.UndecodedOffset"/>).
    /// </summary>
    public ulong Read(ulong offset, AccessSize size)
    {
        bool hole = false;
        ulong value = ReadCore(offset, size, ref hole);
        if (hole)
        {
            NoteUnclaimed(offset, size, isWrite: false, 0);
        }

        return value;
    }

    /// <summary>
    /// A guest write: writable bits take the value, W1C bits clear where 1 is written, then the register's write
    /// handler runs with the old and new values. An access over several registers is split; bytes no register covers
    /// are dropped. Reserved bits written as 1, and writes to read-only registers, are reported (<see cref="FunctionRules"/>).
    /// </summary>
    public void Write(ulong offset, AccessSize size, ulong value)
    {
        bool hole = false;
        WriteCore(offset, size, value, ref hole);
        if (hole)
        {
            NoteUnclaimed(offset, size, isWrite: true, value);
        }
    }

    private ulong ReadCore(ulong offset, AccessSize size, ref bool hole)
    {
        int bytes = (int)size;
        var reg = Find(offset);
        if (reg is not null && offset + (ulong)bytes <= reg.Offset + (ulong)reg.Width)
        {
            int i = _indexByDword[offset / 4] - 1;
            ulong stored = _values[i];
            ulong full = reg.OnRead is null ? stored & reg.ReadMask : reg.OnRead(reg, stored) & reg.ReadMask;
            int shift = 8 * (int)(offset - reg.Offset);
            ulong lanes = size.Mask() << shift;
            if (reg.ReadClearMask != 0)
            {
                _values[i] = stored & ~(reg.ReadClearMask & lanes);
            }

            return (full >> shift) & size.Mask();
        }

        if (bytes > 1)
        {
            var half = (AccessSize)(bytes / 2);
            ulong lo = ReadCore(offset, half, ref hole);
            ulong hi = ReadCore(offset + (ulong)(bytes / 2), half, ref hole);
            return lo | (hi << (4 * bytes));
        }

        hole = true;
        return 0xFF;
    }

    private void WriteCore(ulong offset, AccessSize size, ulong value, ref bool hole)
    {
        int bytes = (int)size;
        var reg = Find(offset);
        if (reg is not null && offset + (ulong)bytes <= reg.Offset + (ulong)reg.Width)
        {
            int i = _indexByDword[offset / 4] - 1;
            int shift = 8 * (int)(offset - reg.Offset);
            ulong lanes = size.Mask() << shift;
            ulong written = (value & size.Mask()) << shift;
            ulong old = _values[i];
            ulong wm = reg.WritableMask & lanes;
            ulong now = (old & ~wm) | (written & wm);
            now &= ~(written & reg.W1cMask & lanes);
            _values[i] = now;

            ulong reserved = written & ~reg.ImplementedMask;
            if (reserved != 0)
            {
                LogReservedWrite(_logger, Name, reg.Name, reserved);
                Report(FunctionRules.ReservedBitsWritten, reg, offset, value & size.Mask(),
                    $"wrote 1s to reserved bits 0x{reserved:x} of {reg.Name}");
            }
            else if (reg.WritableMask == 0 && reg.W1cMask == 0 && reg.OnWrite is null)
            {
                Report(FunctionRules.ReadOnlyRegisterWritten, reg, offset, value & size.Mask(),
                    $"wrote 0x{value & size.Mask():x} to the read-only register {reg.Name} (ignored)");
            }

            if (reg.Width == 8 && LowHalfFirst && reg.WritableMask != 0)
            {
                CheckHalves(reg, i, offset, size, value);
            }

            reg.OnWrite?.Invoke(new RegisterWrite(reg, old, now, written, lanes));
            return;
        }

        if (bytes > 1)
        {
            var half = (AccessSize)(bytes / 2);
            ulong halfMask = half.Mask();
            WriteCore(offset, half, value & halfMask, ref hole);
            WriteCore(offset + (ulong)(bytes / 2), half, (value >> (4 * bytes)) & halfMask, ref hole);
            return;
        }

        hole = true;
    }

    private void CheckHalves(RegisterDefinition reg, int index, ulong offset, AccessSize size, ulong value)
    {
        if (size == AccessSize.Qword)
        {
            _lowHalfWritten[index] = false;
        }
        else if (offset == reg.Offset && size == AccessSize.Dword)
        {
            _lowHalfWritten[index] = true;
        }
        else if (offset == reg.Offset + 4 && size == AccessSize.Dword)
        {
            if (!_lowHalfWritten[index])
            {
                Report(FunctionRules.RegisterHalvesOutOfOrder, reg, offset, value & size.Mask(),
                    $"wrote the high half of {reg.Name} (0x{value & size.Mask():x}) before its low half");
            }

            _lowHalfWritten[index] = false;
        }
    }

    private void Report(DriverRule rule, RegisterDefinition? reg, ulong offset, ulong value, string what) =>
        _checker?.Report(rule, new ViolationDetails
        {
            What = what,
            Register = reg?.Name,
            RegisterBar = _bar,
            RegisterOffset = offset,
            Value = value,
        });

    private int IndexOf(uint offset)
    {
        int idx = offset < Size ? _indexByDword[offset / 4] : 0;
        if (idx == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), $"no register at 0x{offset:x} in {Name}");
        }

        return idx - 1;
    }

    private void NoteUnclaimed(ulong offset, AccessSize size, bool isWrite, ulong value)
    {
        long n = Interlocked.Increment(ref _unclaimedAccesses);
        if (n <= 32 || (n & 4095) == 0)
        {
            LogUnclaimed(_logger, Name, isWrite ? "write" : "read", offset, (int)size, value, n);
        }

        Report(FunctionRules.UndecodedOffset, null, offset, value,
            isWrite ? $"wrote 0x{value:x} ({(int)size} B) to offset 0x{offset:x}, where {Name} has no register (dropped)"
                    : $"read {(int)size} B at offset 0x{offset:x}, where {Name} has no register (all-ones)");
    }

    [LoggerMessage(EventId = 2300, Level = LogLevel.Warning, Message = "{Bank}: {Kind} of unclaimed offset 0x{Offset:x} ({Size} B, value 0x{Value:x}); unclaimed accesses so far: {Count}")]
    private static partial void LogUnclaimed(ILogger logger, string bank, string kind, ulong offset, int size, ulong value, long count);

    [LoggerMessage(EventId = 2301, Level = LogLevel.Warning, Message = "{Bank}: write of 1s to reserved bits 0x{Bits:x} of {Register}")]
    private static partial void LogReservedWrite(ILogger logger, string bank, string register, ulong bits);
}
