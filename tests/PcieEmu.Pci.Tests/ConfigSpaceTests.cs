using PcieEmu.Pci.Config;

namespace PcieEmu.Pci.Tests;

/// <summary>ConfigSpace: values + writable mask + W1C mask (style.md §3.1.8).</summary>
public class ConfigSpaceTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(128)]
    [InlineData(512)]
    [InlineData(8192)]
    public void Only_256_or_4096_byte_spaces_exist(int size)
    {
        var act = () => new ConfigSpace(size);
        act.Should().Throw<ArgumentOutOfRangeException>();
    }

    [Fact]
    public void Extended_space_is_4096_bytes_and_standard_is_256()
    {
        new ConfigSpace(256).IsExtended.Should().BeFalse();
        var ext = new ConfigSpace(4096);
        ext.IsExtended.Should().BeTrue();
        ext.Bytes.Length.Should().Be(4096);
    }

    [Fact]
    public void Read_only_bits_keep_their_value_and_writable_bits_take_the_written_one()
    {
        var c = new ConfigSpace(256);
        c.Define(0x10, 4, 0x1234_5678, writable: 0x00FF_0F0F);

        c.Write(0x10, 4, 0xAAAA_AAAA);

        // RO bits of 0x12345678 survive, writable ones become the written 0xA…
        c.Read(0x10, 4).Should().Be(0x12AA_5A7A);
    }

    [Fact]
    public void Undefined_registers_are_read_only_zero()
    {
        var c = new ConfigSpace(256);
        c.Write(0x80, 4, 0xFFFF_FFFF);
        c.Read(0x80, 4).Should().Be(0);
    }

    [Fact]
    public void W1C_bits_clear_only_where_one_is_written_PCI30_6_2_3()
    {
        var c = new ConfigSpace(256);
        // High byte W1C, low byte read-only.
        c.Define(0x06, 2, 0xF0F0, w1c: 0xFF00);

        c.Write(0x06, 2, 0x30FF);

        // bits 13:12 cleared; 15:14 (written 0) kept; RO low byte unaffected by the 1s written there.
        c.Read(0x06, 2).Should().Be(0xC0F0);
    }

    [Fact]
    public void W1C_bits_cannot_be_set_by_writing()
    {
        var c = new ConfigSpace(256);
        c.Define(0x06, 2, 0x0000, w1c: 0xFF00);
        c.Write(0x06, 2, 0xFFFF);
        c.Read(0x06, 2).Should().Be(0);
    }

    [Fact]
    public void Narrow_writes_touch_only_their_bytes()
    {
        var c = new ConfigSpace(256);
        c.Define(0x40, 4, 0x1122_3344, writable: 0xFFFF_FFFF);

        c.Write(0x41, 1, 0xAB);
        c.Write(0x42, 2, 0xCDEF);

        c.Read(0x40, 4).Should().Be(0xCDEF_AB44);
    }

    [Fact]
    public void Write_returns_the_previous_value_of_the_written_bytes()
    {
        var c = new ConfigSpace(256);
        c.Define(0x40, 4, 0x1122_3344, writable: 0xFFFF_FFFF);

        c.Write(0x41, 2, 0).Should().Be(0x2233);
    }

    [Fact]
    public void Reads_beyond_the_end_read_0xFF()
    {
        var c = new ConfigSpace(256);
        c.Define(0x00, 2, 0xABCD);
        c.Define(0xFC, 4, 0xA1B2_C3D4);

        c.Read(0xFE, 4).Should().Be(0xFFFF_A1B2);
        c.Read(0x100, 4).Should().Be(0xFFFF_FFFF);
        c.Read(-1, 2).Should().Be(0xCDFFu, "the byte before offset 0 does not exist either");
    }

    [Fact]
    public void Writes_beyond_the_end_are_ignored()
    {
        var c = new ConfigSpace(256);
        c.Define(0xFC, 4, 0, writable: 0xFFFF_FFFF);

        var act = () => c.Write(0xFE, 4, 0x1234_5678);

        act.Should().NotThrow();
        c.Read(0xFC, 4).Should().Be(0x5678_0000);
    }

    [Theory]
    [InlineData(-1, 1)]
    [InlineData(0xFE, 4)]
    [InlineData(0x100, 1)]
    [InlineData(0x10, 3)]
    [InlineData(0x10, 8)]
    [InlineData(0x10, 0)]
    public void Define_rejects_registers_outside_the_space_or_of_odd_length(int offset, int length)
    {
        var c = new ConfigSpace(256);
        var act = () => c.Define(offset, length, 0);
        act.Should().Throw<ArgumentOutOfRangeException>();
    }

    [Fact]
    public void Define_at_the_last_dword_of_extended_space_is_allowed()
    {
        var c = new ConfigSpace(4096);
        c.Define(0xFFC, 4, 0xDEAD_BEEF);
        c.Read(0xFFC, 4).Should().Be(0xDEAD_BEEF);
    }

    [Fact]
    public void WritableMask_reports_the_declared_mask()
    {
        var c = new ConfigSpace(256);
        c.Define(0x04, 2, 0, writable: 0x0546);
        c.WritableMask(0x04, 2).Should().Be(0x0546);
        c.WritableMask(0x06, 2).Should().Be(0);
    }

    [Fact]
    public void Restore_brings_back_values_and_masks_captured_earlier()
    {
        var c = new ConfigSpace(256);
        c.Define(0x40, 4, 0x0000_00AA, writable: 0x0000_00FF);
        c.Define(0x44, 2, 0x8000, w1c: 0x8000);
        var image = c.Capture();

        c.Write(0x40, 1, 0x55);
        c.Write(0x44, 2, 0x8000);
        c.Define(0x48, 4, 0x1111_1111, writable: 0xFFFF_FFFF); // masks changed after the capture
        c.Restore(image);

        c.Read(0x40, 4).Should().Be(0xAA);
        c.Read(0x44, 2).Should().Be(0x8000);
        c.Read(0x48, 4).Should().Be(0);
        c.Write(0x48, 4, 0xFFFF_FFFF);
        c.Read(0x48, 4).Should().Be(0, "the writable mask of 0x48 was restored to read-only");
        c.Write(0x40, 1, 0x12);
        c.Read(0x40, 1).Should().Be(0x12, "the writable mask of 0x40 survived the restore");
    }

    [Fact]
    public void Capture_is_a_copy_not_a_view()
    {
        var c = new ConfigSpace(256);
        c.Define(0x40, 1, 0x11, writable: 0xFF);
        var image = c.Capture();
        c.Write(0x40, 1, 0x22);
        image.Value[0x40].Should().Be(0x11);
    }

    [Fact]
    public void Device_side_setters_ignore_the_masks()
    {
        var c = new ConfigSpace(256);
        c.Define(0x06, 2, 0);
        c.Set16(0x06, 0x8010);
        c.Get16(0x06).Should().Be(0x8010);
        c.SetBits16(0x06, 0x0008, on: true);
        c.Get16(0x06).Should().Be(0x8018);
        c.SetBits16(0x06, 0x8000, on: false);
        c.Get16(0x06).Should().Be(0x0018);
    }
}
