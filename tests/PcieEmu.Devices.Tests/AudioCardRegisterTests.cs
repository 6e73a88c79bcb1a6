using PcieEmu.Devices.AudioCard;
using PcieEmu.Devices.Models;

namespace PcieEmu.Devices.Tests;

/// <summary>Spec §3 (access widths, unclaimed offsets) and §4 (register map: reset values and access classes) on BAR0.</summary>
public sealed class AudioCardRegisterTests : IDisposable
{
    private readonly CardHarness _h = new();

    public void Dispose() => _h.Dispose();

    public static TheoryData<ulong, int, ulong> ResetValues() => new()
    {
        // offset, width in bits, reset (spec §4; "model" rows from default.json: 1+1 streams, 4 vectors, 40 bits, 128 B, 64 KiB)
        { Spec.ID, 32, 0x50454155 },
        { Spec.VERSION, 32, 0x00010001 },
        { Spec.CAPS, 32, 1 | (1 << 8) | (4 << 16) },
        { Spec.DMACAPS, 32, 40 | (7 << 8) | (32 << 16) },
        { Spec.MAXSEG, 32, 65536 },
        { Spec.GCTL, 32, 0 },
        { Spec.INTSTS, 32, 0 },
        { Spec.INTEN, 32, 0 },
        { Spec.INTCNT, 32, 0 },
        { Spec.SCRATCH, 32, 0 },
        { Spec.SCRATCH64, 64, 0 },
        { Spec.DIAG_IRQ, 32, 0 },
        { Spec.DIAG_DMA_ADDR, 64, 0 },
        { Spec.DIAG_DMA_LEN, 32, 0 },
        { Spec.DIAG_DMA_SEED, 32, 0 },
        { Spec.DIAG_DMA_CTL, 32, 0 },
        { Spec.DIAG_DMA_STS, 32, 0 },
        { Spec.DIAG_DMA_RESULT, 32, 0 },
    };

    [Theory]
    [MemberData(nameof(ResetValues))]
    public void Registers_read_their_reset_values(ulong offset, int width, ulong reset)
    {
        ulong value = width == 64 ? _h.Read64(offset) : _h.Read32(offset);

        value.Should().Be(reset, $"spec §4 reset of the register at 0x{offset:x3}");
        _h.Card.PeekRegister((AudioRegister)offset).Should().Be(reset, "the device-side view agrees with the bus");
    }

    [Fact]
    public void Id_spells_PEAU_and_version_is_spec_1_1()
    {
        _h.Read32(Spec.ID).Should().Be(0x50454155u);
        ((char)_h.Read8(Spec.ID + 3)).Should().Be('P');
        ((char)_h.Read8(Spec.ID + 2)).Should().Be('E');
        ((char)_h.Read8(Spec.ID + 1)).Should().Be('A');
        ((char)_h.Read8(Spec.ID + 0)).Should().Be('U');
        (_h.Read32(Spec.VERSION) >> 16).Should().Be(1u, "major");
        (_h.Read32(Spec.VERSION) & 0xFFFF).Should().Be(1u, "minor: spec 1.1 added the streams");
    }

    [Fact]
    public void Model_registers_follow_the_model_file()
    {
        using var dir = new TempDir();
        var json = Repo.DefaultModelJson();
        var streams = new System.Text.Json.Nodes.JsonArray();
        string[] names = ["p0", "p1", "c0", "p2", "c1"];
        foreach (var name in names)
        {
            streams.Add(new System.Text.Json.Nodes.JsonObject
            {
                ["name"] = name,
                ["direction"] = name[0] == 'p' ? "playback" : "capture",
                ["maxChannels"] = 2,
                ["formats"] = new System.Text.Json.Nodes.JsonArray("S16_LE"),
                ["rates"] = new System.Text.Json.Nodes.JsonArray(48000),
            });
        }

        json["streams"] = streams;
        json["interrupts"]!["msixVectors"] = 8;
        json["dma"] = new System.Text.Json.Nodes.JsonObject { ["addressBits"] = 48, ["alignment"] = 64, ["maxSegmentBytes"] = 4096 };
        using var h = new CardHarness(CardModelLoader.LoadAudio(dir.Write("variant.json", json)));

        uint caps = h.Read32(Spec.CAPS);
        (caps & 0xFF).Should().Be(3u, "NPLAY: three playback streams in the file");
        ((caps >> 8) & 0xFF).Should().Be(2u, "NCAP: two capture streams");
        ((caps >> 16) & 0xFF).Should().Be(8u, "NVEC: msixVectors");
        (caps >> 24).Should().Be(0u, "reserved bits read 0");
        uint dmacaps = h.Read32(Spec.DMACAPS);
        (dmacaps & 0xFF).Should().Be(48u, "ADDR_BITS");
        ((dmacaps >> 8) & 0xFF).Should().Be(6u, "ALIGN_LOG2 = log2(64)");
        ((dmacaps >> 16) & 0xFF).Should().Be(32u, "BOUNDARY_BITS defaults to 32");
        (dmacaps >> 24).Should().Be(0u);
        h.Read32(Spec.MAXSEG).Should().Be(4096u);
        (h.Cfg16(Spec.MsixControl) & 0x7FF).Should().Be(7, "the MSI-X table has NVEC entries");
    }

    [Theory]
    [InlineData(Spec.ID)]
    [InlineData(Spec.VERSION)]
    [InlineData(Spec.CAPS)]
    [InlineData(Spec.DMACAPS)]
    [InlineData(Spec.MAXSEG)]
    [InlineData(Spec.INTCNT)]
    [InlineData(Spec.DIAG_DMA_STS)]
    [InlineData(Spec.DIAG_DMA_RESULT)]
    public void Read_only_registers_ignore_writes(ulong offset)
    {
        uint before = _h.Read32(offset);

        _h.Write32(offset, ~before);
        _h.Write16(offset, 0x5A5A);
        _h.Write8(offset + 3, 0xA5);

        _h.Read32(offset).Should().Be(before);
    }

    [Fact]
    public void Write_only_registers_read_zero()
    {
        _h.Write32(Spec.GCTL, 0xFFFF_FFFE); // every bit but RESET
        _h.Read32(Spec.GCTL).Should().Be(0u);
        _h.Write32(Spec.DIAG_IRQ, 0x0000_0003);
        _h.Read32(Spec.DIAG_IRQ).Should().Be(0u);
        _h.Read8(Spec.DIAG_IRQ).Should().Be(0);
    }

    [Fact]
    public void Intsts_is_write_one_to_clear()
    {
        _h.Write32(Spec.DIAG_IRQ, 0);
        _h.Read32(Spec.INTSTS).Should().Be(Spec.IntDiag, "DIAG_IRQ sets INTSTS.DIAG");

        _h.Write32(Spec.INTSTS, 0);
        _h.Read32(Spec.INTSTS).Should().Be(Spec.IntDiag, "writing 0 clears nothing");
        _h.Write32(Spec.INTSTS, Spec.IntDmaDone | Spec.IntDmaErr);
        _h.Read32(Spec.INTSTS).Should().Be(Spec.IntDiag, "writing 1 to other bits clears only those (and sets nothing)");
        _h.Write32(Spec.INTSTS, Spec.IntDiag);
        _h.Read32(Spec.INTSTS).Should().Be(0u);
        _h.Write32(Spec.INTSTS, 0xFFFF_FFFF);
        _h.Read32(Spec.INTSTS).Should().Be(0u, "W1C never sets a bit");
    }

    [Fact]
    public void Read_write_registers_keep_what_is_written_in_their_implemented_bits()
    {
        _h.Write32(Spec.SCRATCH, 0xDEAD_BEEF);
        _h.Read32(Spec.SCRATCH).Should().Be(0xDEAD_BEEFu);
        _h.Write32(Spec.INTEN, 0xFFFF_FFFF);
        _h.Read32(Spec.INTEN).Should().Be(0x7u, "INTEN implements DIAG, DMA_DONE and DMA_ERR; reserved bits read 0 (spec §3)");
        _h.Write32(Spec.DIAG_DMA_LEN, 0x1234_5678);
        _h.Read32(Spec.DIAG_DMA_LEN).Should().Be(0x1234_5678u);
        _h.Write32(Spec.DIAG_DMA_SEED, 0x8765_4321);
        _h.Read32(Spec.DIAG_DMA_SEED).Should().Be(0x8765_4321u);
        _h.Write64(Spec.DIAG_DMA_ADDR, 0xFEDC_BA98_7654_3210);
        _h.Read64(Spec.DIAG_DMA_ADDR).Should().Be(0xFEDC_BA98_7654_3210UL);
        _h.Write32(Spec.DIAG_DMA_CTL, 0xFFFF_FFFE); // DIR and reserved bits, not START
        _h.Read32(Spec.DIAG_DMA_CTL).Should().Be(Spec.CtlDirWrite);
        _h.Read32(Spec.DIAG_DMA_STS).Should().Be(0u, "no transfer was started");
    }

    [Fact]
    public void Byte_and_word_accesses_read_and_merge_the_addressed_bytes()
    {
        _h.Write32(Spec.SCRATCH, 0x1122_3344);

        _h.Read8(Spec.SCRATCH + 0).Should().Be(0x44);
        _h.Read8(Spec.SCRATCH + 1).Should().Be(0x33);
        _h.Read8(Spec.SCRATCH + 2).Should().Be(0x22);
        _h.Read8(Spec.SCRATCH + 3).Should().Be(0x11);
        _h.Read16(Spec.SCRATCH + 0).Should().Be(0x3344);
        _h.Read16(Spec.SCRATCH + 2).Should().Be(0x1122);

        _h.Write8(Spec.SCRATCH + 1, 0xAA);
        _h.Read32(Spec.SCRATCH).Should().Be(0x1122_AA44u, "a byte write changes only its byte");
        _h.Write16(Spec.SCRATCH + 2, 0xBEEF);
        _h.Read32(Spec.SCRATCH).Should().Be(0xBEEF_AA44u, "a word write changes only its two bytes");
        _h.Write8(Spec.SCRATCH + 0, 0x00);
        _h.Read32(Spec.SCRATCH).Should().Be(0xBEEF_AA00u);
    }

    [Fact]
    public void Narrow_accesses_work_on_64_bit_registers()
    {
        _h.Write64(Spec.SCRATCH64, 0x0011_2233_4455_6677);
        _h.Write8(Spec.SCRATCH64 + 7, 0xEE);
        _h.Write16(Spec.SCRATCH64 + 2, 0xCAFE);

        _h.Read64(Spec.SCRATCH64).Should().Be(0xEE11_2233_CAFE_6677UL);
        _h.Read16(Spec.SCRATCH64 + 4).Should().Be(0x2233);
        _h.Read8(Spec.SCRATCH64 + 6).Should().Be(0x11);
    }

    [Fact]
    public void Narrow_writes_to_intsts_clear_only_bits_in_their_lanes()
    {
        _h.Write32(Spec.DIAG_IRQ, 0);
        _h.Write8(Spec.INTSTS + 1, 0xFF);
        _h.Read32(Spec.INTSTS).Should().Be(Spec.IntDiag, "byte 1 holds no status bit");
        _h.Write8(Spec.INTSTS, 0x01);
        _h.Read32(Spec.INTSTS).Should().Be(0u);
    }

    [Fact]
    public void Scratch64_takes_one_8_byte_access()
    {
        _h.Write64(Spec.SCRATCH64, 0x0123_4567_89AB_CDEF);

        _h.Read64(Spec.SCRATCH64).Should().Be(0x0123_4567_89AB_CDEFUL);
        _h.Read32(Spec.SCRATCH64).Should().Be(0x89AB_CDEFu, "low half at the lower address (little-endian)");
        _h.Read32(Spec.SCRATCH64 + 4).Should().Be(0x0123_4567u);
        _h.BarBytes(0, Spec.SCRATCH64, 8).Should().Equal(0xEF, 0xCD, 0xAB, 0x89, 0x67, 0x45, 0x23, 0x01);
    }

    [Fact]
    public void Scratch64_takes_two_4_byte_accesses_low_half_first()
    {
        _h.Write32(Spec.SCRATCH64, 0xDEAD_BEEF);
        _h.Read64(Spec.SCRATCH64).Should().Be(0x0000_0000_DEAD_BEEFUL, "the high half is untouched so far");
        _h.Write32(Spec.SCRATCH64 + 4, 0xCAFE_F00D);

        _h.Read64(Spec.SCRATCH64).Should().Be(0xCAFE_F00D_DEAD_BEEFUL);
        _h.Write32(Spec.SCRATCH64 + 4, 0x1);
        _h.Read64(Spec.SCRATCH64).Should().Be(0x0000_0001_DEAD_BEEFUL, "a high-half write keeps the low half");
    }

    [Fact]
    public void An_8_byte_access_over_two_32_bit_registers_reaches_both()
    {
        _h.Write64(Spec.DIAG_DMA_LEN, 0x0000_0077_0000_0100); // LEN (0x50) and SEED (0x54)
        _h.Read32(Spec.DIAG_DMA_LEN).Should().Be(0x100u);
        _h.Read32(Spec.DIAG_DMA_SEED).Should().Be(0x77u);
        _h.Read64(Spec.DIAG_DMA_LEN).Should().Be(0x0000_0077_0000_0100UL);
    }

    [Fact]
    public void An_8_byte_access_half_over_an_unclaimed_offset_reads_ones_there_and_drops_the_write_there()
    {
        _h.Write64(Spec.SCRATCH, 0x5555_5555_1234_5678); // SCRATCH (0x30) and unclaimed 0x34
        _h.Read32(Spec.SCRATCH).Should().Be(0x1234_5678u);
        _h.Read64(Spec.SCRATCH).Should().Be(0xFFFF_FFFF_1234_5678UL);
        _h.Read64(Spec.MAXSEG).Should().Be(0xFFFF_FFFF_0001_0000UL, "MAXSEG then unclaimed 0x14");
    }

    /// <summary>Dwords the register map claims for the default card: the global registers and one SD block per stream (spec §4, §9.1).</summary>
    private static IEnumerable<ulong> ClaimedDwords
    {
        get
        {
            var map = PcieEmu.Codegen.RegisterMapDocument.Load(Repo.RegistersJsonPath);
            int streams = CardModelLoader.LoadAudio(Repo.DefaultModelPath).Streams.Count;
            var claimed = new List<ulong>();
            void Add(PcieEmu.Codegen.RegisterSpec r, ulong baseOffset)
            {
                foreach (var (_, offset) in r.Instances())
                {
                    for (int d = 0; d < r.WidthBits / 32; d++)
                    {
                        claimed.Add(baseOffset + offset + (ulong)(4 * d));
                    }
                }
            }

            foreach (var r in map.Registers)
            {
                Add(r, 0);
            }

            var sd = map.Blocks.Single(b => b.Name == "SD");
            for (int i = 0; i < streams; i++)
            {
                foreach (var r in sd.Registers)
                {
                    Add(r, sd.Base + ((ulong)i * sd.Stride));
                }
            }

            return claimed;
        }
    }

    [Fact]
    public void Every_unclaimed_dword_of_bar0_reads_all_ones()
    {
        var claimed = ClaimedDwords.ToHashSet();
        var wrong = new List<string>();
        for (ulong offset = 0; offset < 16 * 1024; offset += 4)
        {
            if (claimed.Contains(offset))
            {
                continue;
            }

            uint v = _h.Read32(offset);
            if (v != 0xFFFF_FFFF)
            {
                wrong.Add($"0x{offset:x}: 0x{v:x8}");
            }
        }

        wrong.Should().BeEmpty("spec §3: unclaimed offsets read all-ones");
    }

    [Theory]
    [InlineData(0x014UL)]
    [InlineData(0x018UL)]
    [InlineData(0x034UL)]
    [InlineData(0x044UL)]
    [InlineData(0x064UL)]
    [InlineData(0x100UL)]
    [InlineData(0x3FF8UL)]
    public void Unclaimed_offsets_read_all_ones_at_every_width_and_ignore_writes(ulong offset)
    {
        // Every claimed register but WALLCLK (a running clock) must read the same after the writes.
        var before = ClaimedDwords.Where(r => r is not (0x070 or 0x074)).ToDictionary(r => r, r => _h.Read32(r));
        _h.Write32(offset, 0x5A5A_5A5A);
        _h.Write16(offset + 2, 0xA5A5);
        _h.Write8(offset + 1, 0x00);
        if (offset % 8 == 0)
        {
            _h.Write64(offset, 0x0123_4567_89AB_CDEF);
        }

        _h.Read8(offset).Should().Be(0xFF);
        _h.Read8(offset + 3).Should().Be(0xFF);
        _h.Read16(offset).Should().Be(0xFFFF);
        _h.Read16(offset + 2).Should().Be(0xFFFF);
        _h.Read32(offset).Should().Be(0xFFFF_FFFFu);
        if (offset % 8 == 0)
        {
            _h.Read64(offset).Should().Be(ulong.MaxValue);
        }

        foreach (var (reg, value) in before)
        {
            _h.Read32(reg).Should().Be(value, $"a write to unclaimed 0x{offset:x} must not reach 0x{reg:x}");
        }
    }

    [Fact]
    public void Sram_is_plain_memory_shared_by_driver_and_card()
    {
        byte[] pattern = Reference.Noise(64, 1);
        _h.F.BarWrite(4, 0x100, pattern);

        var seenByCard = new byte[64];
        _h.Card.Sram!.TryRead(0x100, seenByCard).Should().BeTrue();
        seenByCard.Should().Equal(pattern);

        _h.Card.Sram.TryWrite(0xF00, [1, 2, 3, 4]).Should().BeTrue();
        _h.Read32(0xF00, bar: 4).Should().Be(0x0403_0201u);
        _h.Read8(0xFFF, bar: 4).Should().Be(0, "SRAM starts zeroed");
    }
}
