using PcieEmu.Pci.Dma;

namespace PcieEmu.Devices.Tests;

/// <summary>
/// Spec §6: the diagnostic DMA engine. Reads hash the buffer with FNV-1a, writes produce the seeded pattern,
/// every §6.1 rule is enforced with its §6.3 ERRCODE, an error interrupt and a named driver-rule violation,
/// and the engine runs off the register-access path.
/// </summary>
public sealed class AudioCardDmaTests : IDisposable
{
    private const ulong Iova = 0x0000_0012_3450_0000; // below 2^40, 128-byte aligned
    private readonly CardHarness _h = new();

    public void Dispose() => _h.Dispose();

    [Fact]
    public void Reference_pattern_matches_the_words_the_spec_defines()
    {
        // k = 0: SEED ^ 0; k = 1: SEED ^ 0x9E3779B9; k = 2: SEED ^ 0x3C6EF372 (2 × 0x9E3779B9 mod 2^32)
        Reference.DiagPattern(0, 12).Should().Equal(0, 0, 0, 0, 0xB9, 0x79, 0x37, 0x9E, 0x72, 0xF3, 0x6E, 0x3C);
        Reference.DiagPattern(0xFFFF_FFFF, 8).Should().Equal(0xFF, 0xFF, 0xFF, 0xFF, 0x46, 0x86, 0xC8, 0x61);
        Reference.Fnv1a("foobar"u8).Should().Be(0xBF9C_F968u);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    [InlineData(1000)]
    [InlineData(4096)]
    [InlineData(10_007)] // several of the engine's internal chunks, not a multiple of anything
    public void Read_stores_the_fnv1a_hash_of_the_buffer(int length)
    {
        _h.EnableMemoryAndBusMaster();
        var memory = _h.MapArray(Iova, 16384);
        Reference.Noise(memory.Length, length).CopyTo(memory, 0);
        uint expected = Reference.Fnv1a(memory.AsSpan(0, length));

        uint sts = _h.RunDiag(Iova, (uint)length, write: false);

        sts.Should().Be(Spec.StsDone, "DONE, not BUSY, no ERR, ERRCODE 0");
        _h.Read32(Spec.DIAG_DMA_RESULT).Should().Be(expected);
        (_h.Read32(Spec.DIAG_DMA_CTL) & Spec.CtlStart).Should().Be(0u, "START reads 0 after completion");
        _h.Read32(Spec.INTSTS).Should().Be(Spec.IntDmaDone);
        _h.Card.Checker.Count.Should().Be(0);
    }

    [Fact]
    public void Read_hashes_bytes_in_address_order_at_the_programmed_address()
    {
        _h.EnableMemoryAndBusMaster();
        var memory = _h.MapArray(Iova, 4096);
        "foobar"u8.CopyTo(memory.AsSpan(256));

        _h.RunDiag(Iova + 256, 6, write: false).Should().Be(Spec.StsDone);

        _h.Read32(Spec.DIAG_DMA_RESULT).Should().Be(0xBF9C_F968u, "FNV-1a(\"foobar\") is the published test vector");
    }

    [Fact]
    public void Read_leaves_guest_memory_alone()
    {
        _h.EnableMemoryAndBusMaster();
        var memory = _h.MapArray(Iova, 4096);
        var before = Reference.Noise(4096, 9);
        before.CopyTo(memory, 0);

        _h.RunDiag(Iova, 4096, write: false).Should().Be(Spec.StsDone);

        memory.Should().Equal(before);
    }

    [Theory]
    [InlineData(0x0000_0000u, 64)]
    [InlineData(0x1234_5678u, 4096)]
    [InlineData(0xFFFF_FFFFu, 4097)]
    [InlineData(0xA5A5_0001u, 9_999)]
    [InlineData(0x0BAD_CAFEu, 3)]
    public void Write_produces_the_seeded_pattern_and_nothing_else(uint seed, int length)
    {
        _h.EnableMemoryAndBusMaster();
        var memory = _h.MapArray(Iova, 16384, fill: 0xCC);
        uint resultBefore = _h.Read32(Spec.DIAG_DMA_RESULT);

        uint sts = _h.RunDiag(Iova + 128, (uint)length, write: true, seed);

        sts.Should().Be(Spec.StsDone);
        memory.AsSpan(128, length).ToArray().Should().Equal(Reference.DiagPattern(seed, length));
        memory.AsSpan(0, 128).ToArray().Should().OnlyContain(b => b == 0xCC, "bytes before ADDR are untouched");
        memory.AsSpan(128 + length).ToArray().Should().OnlyContain(b => b == 0xCC, "bytes after ADDR+LEN are untouched");
        (_h.Read32(Spec.DIAG_DMA_CTL) & Spec.CtlStart).Should().Be(0u);
        _h.Read32(Spec.DIAG_DMA_RESULT).Should().Be(resultBefore, "a write does not produce a hash");
        _h.Read32(Spec.INTSTS).Should().Be(Spec.IntDmaDone);
    }

    [Fact]
    public void A_transfer_of_exactly_maxseg_bytes_is_allowed()
    {
        _h.EnableMemoryAndBusMaster();
        var memory = _h.MapArray(Iova, 65536);
        Reference.Noise(65536, 3).CopyTo(memory, 0);

        _h.RunDiag(Iova, 65536, write: false).Should().Be(Spec.StsDone);

        _h.Read32(Spec.DIAG_DMA_RESULT).Should().Be(Reference.Fnv1a(memory));
    }

    [Fact]
    public void Completion_raises_dma_done_on_vector_0()
    {
        var s = _h.EnableMsix();
        _h.Write32(Spec.INTEN, Spec.IntDmaDone | Spec.IntDmaErr | Spec.IntDiag);
        _h.Write32(Spec.DIAG_IRQ, 3); // DIAG on vector 3 must not move DMA causes off vector 0
        _h.MapArray(Iova, 4096);

        _h.RunDiag(Iova, 256, write: false).Should().Be(Spec.StsDone);

        Poll.Until(() => s[0].Count == 1).Should().BeTrue();
        s.Select(x => x.Count).Should().Equal(1, 0, 0, 1);
        _h.Read32(Spec.INTSTS).Should().Be(Spec.IntDmaDone | Spec.IntDiag);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Guest_memory_that_shrinks_under_a_mapping_fails_the_transfer_with_TRANSPORT(bool write)
    {
        // A client may DMA_MAP a file it can shrink (an unsealed memfd, file-backed RAM) and then ftruncate it: a
        // plain load or store of the mmap past the new end raises SIGBUS and killed the whole server. Such mappings
        // are fault-checked: the engine reports that the host could not complete the transfer.
        _h.EnableMemoryAndBusMaster();
        using var ram = PcieEmu.Interop.MemFd.Create("shrinking-ram", 65536);
        _h.MapFile(Iova, ram, 65536, faultChecked: true);
        _h.RunDiag(Iova, 4096, write).Should().Be(Spec.StsDone, "the memory is there before it shrinks");

        PcieEmu.Interop.Libc.ftruncate(ram, 0).Should().Be(0);

        _h.RunDiag(Iova, 4096, write).Should().Be(Spec.StsError(Spec.ErrTransport));
        _h.RunDiag(Iova, 4096, write).Should().Be(Spec.StsError(Spec.ErrTransport), "and the card keeps working");
    }

    [Fact]
    public void Errors_raise_dma_err_on_vector_0()
    {
        var s = _h.EnableMsix();
        _h.Write32(Spec.INTEN, Spec.IntDmaDone | Spec.IntDmaErr);

        _h.RunDiag(Iova, 256, write: false).Should().Be(Spec.StsError(Spec.ErrUnmapped));

        Poll.Until(() => s[0].Count == 1).Should().BeTrue();
        s.Select(x => x.Count).Should().Equal(1, 0, 0, 0);
        _h.Read32(Spec.INTSTS).Should().Be(Spec.IntDmaErr);
        _h.Read32(Spec.INTCNT).Should().Be(1u);
    }

    [Fact]
    public void Status_is_cleared_when_a_transfer_starts()
    {
        _h.EnableMemoryAndBusMaster();
        _h.RunDiag(Iova, 256, write: false).Should().Be(Spec.StsError(Spec.ErrUnmapped));
        _h.MapArray(Iova, 4096);

        _h.RunDiag(Iova, 256, write: false).Should().Be(Spec.StsDone, "the previous ERR and ERRCODE are gone");
    }

    public static TheoryData<string, int, string> RuleViolations() => new()
    {
        // case, ERRCODE (spec §6.3), violation rule
        { "unmapped", Spec.ErrUnmapped, "DmaUnmapped" },
        { "partly unmapped", Spec.ErrUnmapped, "DmaUnmapped" },
        { "read-only mapping, write", Spec.ErrDenied, "DmaDenied" },
        { "write-only mapping, read", Spec.ErrDenied, "DmaDenied" },
        { "bus master disabled", Spec.ErrBusMaster, "DmaBusMaster" },
        { "own BAR0", Spec.ErrOwnBar, "DmaOwnBar" },
        { "own BAR4 (SRAM)", Spec.ErrOwnBar, "DmaOwnBar" },
        { "address at 2^40", Spec.ErrAddrBits, "DmaAddrBits" },
        { "range crossing 2^40", Spec.ErrAddrBits, "DmaAddrBits" },
        { "address at 2^64 - 128", Spec.ErrAddrBits, "DmaAddrBits" },
        { "misaligned by 64", Spec.ErrAlign, "DmaAlign" },
        { "misaligned by 1", Spec.ErrAlign, "DmaAlign" },
        { "length 0", Spec.ErrLength, "DmaLength" },
        { "length MAXSEG + 1", Spec.ErrLength, "DmaLength" },
        { "length 2^32 - 1", Spec.ErrLength, "DmaLength" },
    };

    [Theory]
    [MemberData(nameof(RuleViolations))]
    public void Each_rule_violation_is_reported_with_its_errcode_and_recorded(string what, int errcode, string rule)
    {
        var s = _h.EnableMsix();
        _h.Write32(Spec.INTEN, Spec.IntDmaErr | Spec.IntDmaDone);
        ulong address = Iova;
        uint length = 512;
        bool write = false;
        byte[]? untouched = null;
        switch (what)
        {
            case "unmapped":
                break;
            case "partly unmapped":
                _h.MapArray(Iova, 4096);
                length = 4096 + 128;
                break;
            case "read-only mapping, write":
                untouched = _h.MapArray(Iova, 4096, DmaAccess.Read, fill: 0x11);
                write = true;
                break;
            case "write-only mapping, read":
                _h.MapArray(Iova, 4096, DmaAccess.Write);
                break;
            case "bus master disabled":
                untouched = _h.MapArray(Iova, 4096, fill: 0x22);
                _h.SetCommand(Spec.CmdMemory);
                write = true;
                break;
            case "own BAR0":
                address = 0xFEB0_0000;
                _h.WriteCfg32(Spec.CfgBar0, (uint)address);
                _h.WriteCfg32(Spec.CfgBar0 + 4, 0);
                untouched = _h.MapArray(address, 16384, fill: 0x33); // mapped, so only the BAR rule can refuse it
                write = true;
                break;
            case "own BAR4 (SRAM)":
                address = 0x8_0000_0000;
                _h.WriteCfg32(Spec.CfgBar0 + 16, 0);
                _h.WriteCfg32(Spec.CfgBar0 + 20, 0x8);
                untouched = _h.MapArray(address, 4096, fill: 0x44);
                write = true;
                break;
            case "address at 2^40":
                address = 1UL << 40;
                _h.MapArray(address, 4096);
                break;
            case "range crossing 2^40":
                address = (1UL << 40) - 256;
                _h.MapArray(address, 4096);
                break;
            case "address at 2^64 - 128":
                address = ulong.MaxValue - 127;
                break;
            case "misaligned by 64":
                untouched = _h.MapArray(Iova, 4096, fill: 0x55);
                address = Iova + 64;
                write = true;
                break;
            case "misaligned by 1":
                _h.MapArray(Iova, 4096);
                address = Iova + 1;
                break;
            case "length 0":
                _h.MapArray(Iova, 4096);
                length = 0;
                break;
            case "length MAXSEG + 1":
                untouched = _h.MapArray(Iova, 65536 + 4096, fill: 0x66);
                length = 65536 + 1;
                write = true;
                break;
            case "length 2^32 - 1":
                _h.MapArray(Iova, 4096);
                length = uint.MaxValue;
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(what));
        }

        uint sts = _h.RunDiag(address, length, write, seed: 0x1234_5678);

        sts.Should().Be(Spec.StsError(errcode), $"{what}: DIAG_DMA_STS = ERR with ERRCODE {errcode}");
        (_h.Read32(Spec.DIAG_DMA_CTL) & Spec.CtlStart).Should().Be(0u, "START reads 0 after an error");
        (_h.Read32(Spec.INTSTS) & (Spec.IntDmaErr | Spec.IntDmaDone)).Should().Be(Spec.IntDmaErr);
        if (what == "bus master disabled")
        {
            s[0].Count.Should().Be(0, "an MSI-X message is a memory write: it waits for Bus Master Enable (spec §5)");
            _h.SetCommand(Spec.CmdMemory | Spec.CmdBusMaster);
        }

        Poll.Until(() => s[0].Count == 1).Should().BeTrue("DMA_ERR is signalled on vector 0");
        _h.ViolationRules().Should().Equal(new[] { rule }, $"{what} breaks a spec §6.1 rule");
        if (untouched is not null)
        {
            byte fill = untouched[0];
            untouched.Should().OnlyContain(b => b == fill, $"{what}: the violation is detected before any byte moves");
        }
    }

    [Fact]
    public void Memory_decode_off_means_a_programmed_bar_address_is_not_our_bar()
    {
        const ulong address = 0xFEB0_0000;
        _h.WriteCfg32(Spec.CfgBar0, (uint)address);
        _h.SetCommand(Spec.CmdBusMaster); // memory space decode off
        var memory = _h.MapArray(address, 16384);

        _h.RunDiag(address, 64, write: true, seed: 7).Should().Be(Spec.StsDone);

        memory.AsSpan(0, 64).ToArray().Should().Equal(Reference.DiagPattern(7, 64));
    }

    [Fact]
    public void A_start_write_returns_before_the_transfer_finishes_and_the_transfer_runs_on_another_thread()
    {
        _h.EnableMemoryAndBusMaster();
        var slow = _h.MapBlocking(Iova, 4096);
        Reference.Noise(4096, 5).CopyTo(slow.Memory, 0);

        _h.StartDiag(Iova, 4096, write: false); // returns although the host is stalled

        slow.Entered.Wait(Poll.Timeout).Should().BeTrue("the engine reached guest memory");
        slow.Completed.Should().Be(0, "the START write returned while the transfer was still stalled");
        slow.AccessThreadId.Should().NotBe(Environment.CurrentManagedThreadId, "spec §6.1.5: transfers run off the register-access path");
        _h.Read32(Spec.DIAG_DMA_STS).Should().Be(Spec.StsBusy, "BUSY while the transfer runs");
        (_h.Read32(Spec.DIAG_DMA_CTL) & Spec.CtlStart).Should().Be(Spec.CtlStart, "START reads 1 until the transfer ends");
        _h.Read32(Spec.SCRATCH).Should().Be(0u, "registers stay accessible during a transfer");

        slow.Release();

        _h.WaitDiagIdle().Should().Be(Spec.StsDone);
        _h.Read32(Spec.DIAG_DMA_RESULT).Should().Be(Reference.Fnv1a(slow.Memory));
    }

    [Fact]
    public void Start_while_busy_is_ignored_and_recorded()
    {
        _h.EnableMemoryAndBusMaster();
        var slow = _h.MapBlocking(Iova, 4096);
        Reference.Noise(4096, 6).CopyTo(slow.Memory, 0);
        _h.StartDiag(Iova, 256, write: false);
        slow.Entered.Wait(Poll.Timeout).Should().BeTrue();

        // A second START, now as a write of a different range, while the first is busy.
        _h.Write32(Spec.DIAG_DMA_LEN, 128);
        _h.Write32(Spec.DIAG_DMA_CTL, Spec.CtlStart | Spec.CtlDirWrite);

        _h.ViolationRules().Should().Equal("DiagDmaStartWhileBusy");
        _h.Read32(Spec.DIAG_DMA_STS).Should().Be(Spec.StsBusy);
        _h.Read32(Spec.DIAG_DMA_CTL).Should().Be(Spec.CtlStart, "DIR of the running transfer is kept");

        slow.Release();
        _h.WaitDiagIdle().Should().Be(Spec.StsDone);
        _h.Read32(Spec.DIAG_DMA_RESULT).Should().Be(Reference.Fnv1a(slow.Memory.AsSpan(0, 256)), "the first transfer completed as programmed");

        // One more transfer: the engine runs jobs in order, so if the ignored START had queued one, it has run by now.
        _h.RunDiag(Iova, 128, write: false).Should().Be(Spec.StsDone);
        _h.Card.DiagnosticTransfers.Should().Be(2, "the START while busy did not start a transfer");
        slow.Writes.Should().Be(0, "nothing ever wrote to guest memory");
        _h.Card.Checker.Count.Should().Be(1);
    }

    [Fact]
    public void A_start_of_zero_is_not_a_start()
    {
        _h.EnableMemoryAndBusMaster();
        _h.MapArray(Iova, 4096);
        _h.Write64(Spec.DIAG_DMA_ADDR, Iova);
        _h.Write32(Spec.DIAG_DMA_LEN, 64);

        _h.Write32(Spec.DIAG_DMA_CTL, Spec.CtlDirWrite);

        _h.Read32(Spec.DIAG_DMA_STS).Should().Be(0u);
        _h.Card.DiagnosticTransfers.Should().Be(0);
    }
}
