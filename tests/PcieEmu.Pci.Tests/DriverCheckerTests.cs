using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using PcieEmu.Pci.Bars;
using PcieEmu.Pci.Checking;
using PcieEmu.Pci.Config;
using PcieEmu.Pci.Dma;
using PcieEmu.Pci.Interrupts;
using PcieEmu.Pci.Registers;

namespace PcieEmu.Pci.Tests;

/// <summary>The function's driver checker: structured reports, the framework's own rules, policies.</summary>
public class DriverCheckerTests
{
    private const int PmCsr = Functions.Pm + 4;
    private const int MsixControl = Functions.Msix + 2;

    private static readonly DriverRule Example = new("ExampleRule", "spec §1", "do the right thing");

    /// <summary>An audio-shaped function whose BAR0 is a register bank: ID (RO), CTL (RW, bits 0-7), ADDR (64-bit RW).</summary>
    private static (PciFunction Function, RegisterBank Bank) WithBank(bool lowHalfFirst = true)
    {
        var bank = new RegisterBank("regs", 16 * 1024, NullLogger.Instance) { LowHalfFirst = lowHalfFirst };
        bank.Define(RegisterDefinition.ReadOnly("ID", 0x0, 0x5045_4155));
        bank.Define(new RegisterDefinition("CTL", 0x4, 4, 0, ImplementedMask: 0xFF, WritableMask: 0xFF, W1cMask: 0, ReadMask: 0xFF));
        bank.Define(RegisterDefinition.ReadWrite("ADDR", 0x8, width: 8));
        return (Functions.Audio(bank), bank);
    }

    [Fact]
    public void A_report_names_the_guest_access_in_progress_with_its_register_and_sequence()
    {
        var (f, _) = WithBank();
        using (f)
        {
            f.BarWrite64(0, 0x4, 4, 0x12);
            f.BarWrite64(0, 0x0, 4, 0xDEAD);

            var v = f.Checker.Snapshot().Should().ContainSingle().Subject;
            v.Rule.Should().Be(FunctionRules.ReadOnlyRegisterWritten);
            v.Severity.Should().Be(RuleSeverity.Warning);
            v.Cause.Should().NotBeNull();
            v.Cause!.Value.Kind.Should().Be(GuestAccessKind.BarWrite);
            v.Cause.Value.Offset.Should().Be(0UL);
            v.Cause.Value.Value.Should().Be(0xDEADUL);
            v.Cause.Value.Sequence.Should().Be(f.Checker.AccessCount, "the second write is the latest access");
            v.CauseRegister.Should().Be("ID");
            v.Details.Register.Should().Be("ID");
            f.Checker.Count.Should().Be(0, "warnings are not violations");
            f.Checker.Warnings.Should().Be(1);
        }
    }

    [Fact]
    public void Reserved_bits_and_undecoded_offsets_are_warnings_with_the_value_written()
    {
        var (f, _) = WithBank();
        using (f)
        {
            f.BarWrite64(0, 0x4, 4, 0x1_0001);
            f.BarRead64(0, 0x100, 4);

            var rules = f.Checker.Snapshot();
            rules.Select(v => v.Rule.Name).Should().Equal("ReservedBitsWritten", "UndecodedOffset");
            rules[0].Details.Value.Should().Be(0x1_0001UL);
            rules[0].What.Should().Contain("0x10000");
            rules[1].Cause!.Value.Kind.Should().Be(GuestAccessKind.BarRead);
            f.Checker.Count.Should().Be(0);
        }
    }

    [Fact]
    public void The_high_half_of_a_64_bit_register_before_its_low_half_is_a_violation_when_the_spec_fixes_the_order()
    {
        var (f, _) = WithBank();
        using (f)
        {
            f.BarWrite64(0, 0x8, 8, 0x1_2345_6780);   // one access: fine
            f.BarWrite64(0, 0x8, 4, 0x2345_6780);     // low, then high: fine
            f.BarWrite64(0, 0xC, 4, 0x1);
            f.Checker.Count.Should().Be(0);

            f.BarWrite64(0, 0xC, 4, 0x2);             // high alone
            var v = f.Checker.Snapshot().Should().ContainSingle().Subject;
            v.Rule.Should().Be(FunctionRules.RegisterHalvesOutOfOrder);
            v.Severity.Should().Be(RuleSeverity.Violation);
            v.Details.RegisterOffset.Should().Be(0xCUL);
            v.CauseRegister.Should().Be("ADDR+4");
        }

        var (g, _) = WithBank(lowHalfFirst: false);
        using (g)
        {
            g.BarWrite64(0, 0xC, 4, 0x2);
            g.Checker.Count.Should().Be(0, "without a fixed order either half may come first");
        }
    }

    [Fact]
    public void A_BAR_access_in_D3hot_is_a_violation()
    {
        var (f, _) = WithBank();
        using (f)
        {
            f.CfgWrite16(PmCsr, 3);
            f.BarRead64(0, 0x4, 4).Should().Be(0xFFFF_FFFFUL);

            var v = f.Checker.Snapshot().Should().ContainSingle().Subject;
            v.Rule.Should().Be(FunctionRules.MmioInD3Hot);
            v.Details.Register.Should().Be("CTL");
        }
    }

    [Fact]
    public void DMA_outside_D0_is_refused_and_reported_once_per_stay()
    {
        using var f = Functions.Audio();
        f.SetCommand(PciCommand.BusMaster | PciCommand.MemorySpace);
        f.DmaMappings.MapRam(0x1000, 0x1000, DmaAccess.ReadWrite, Functions.Ram(0x1000));
        var buffer = new byte[16];

        f.CfgWrite16(PmCsr, 3);
        f.Dma.Read(0x1000, buffer).Should().Be(DmaResult.NotInD0);
        f.Dma.Read(0x1010, buffer).Should().Be(DmaResult.NotInD0);
        f.Checker.Snapshot().Should().ContainSingle().Which.Details.BadAddress.Should().Be(0x1000UL);

        f.CfgWrite16(PmCsr, 0);
        f.Dma.Read(0x1000, buffer).Should().Be(DmaResult.Ok);
        f.CfgWrite16(PmCsr, 3);
        f.Dma.Read(0x1000, buffer).Should().Be(DmaResult.NotInD0);
        f.Checker.Snapshot().Select(v => v.Rule).Should().Equal(FunctionRules.DmaOutsideD0, FunctionRules.DmaOutsideD0);
    }

    [Fact]
    public void A_raise_on_an_MSI_X_vector_never_set_up_or_function_masked_is_reported_once_until_it_delivers()
    {
        using var f = Functions.Audio();
        f.SetCommand(PciCommand.BusMaster);
        var signals = new IInterruptSignal?[] { new FakeSignal(), null, null, null };
        f.Interrupts.Assign(IrqIndex.Msix, 0, signals);
        f.CfgWrite16(MsixControl, 0x8000);

        f.Interrupts.Raise(0).Should().Be(InterruptOutcome.Delivered);
        f.Checker.Count.Should().Be(0);

        f.Interrupts.Raise(2).Should().Be(InterruptOutcome.Pending);
        f.Interrupts.Raise(2).Should().Be(InterruptOutcome.Pending);
        var v = f.Checker.Snapshot().Should().ContainSingle().Subject;
        v.Rule.Should().Be(FunctionRules.MsixVectorUnassigned);
        v.Details.Value.Should().Be(2UL);
        v.Cause.Should().BeNull("the device raised it on its own, not during a guest access");

        f.CfgWrite16(MsixControl, 0xC000);
        f.Interrupts.Raise(0).Should().Be(InterruptOutcome.Pending);
        f.Checker.Snapshot().Select(x => x.Rule).Should().Equal(FunctionRules.MsixVectorUnassigned, FunctionRules.MsixVectorMasked);
    }

    [Fact]
    public void Raises_while_bus_mastering_is_off_are_not_charged_to_the_vector()
    {
        using var f = Functions.Audio();
        f.CfgWrite16(MsixControl, 0x8000);
        f.Interrupts.Raise(1).Should().Be(InterruptOutcome.Pending);
        f.Checker.Count.Should().Be(0);
    }

    [Fact]
    public void A_policy_switches_rules_off_or_promotes_warnings()
    {
        var (f, _) = WithBank();
        using (f)
        {
            CheckerPolicy.TryParse(["warnings=violation", "UndecodedOffset=off"], [.. FunctionRules.All.Select(r => r.Name)], out var policy, out string error)
                .Should().BeTrue(error);
            f.Checker.Policy = policy;

            f.BarRead64(0, 0x100, 4);
            f.BarWrite64(0, 0x0, 4, 1);

            f.Checker.Snapshot().Should().ContainSingle().Which.Severity.Should().Be(RuleSeverity.Violation);
            f.Checker.Count.Should().Be(1);
        }
    }

    [Theory]
    [InlineData("NoSuchRule=off", "no rule is called 'NoSuchRule'")]
    [InlineData("UndecodedOffset", "is not NAME=off|warning|violation")]
    [InlineData("UndecodedOffset=loud", "off, warning or violation")]
    [InlineData("warnings=off", "'warnings=' takes")]
    public void A_bad_policy_setting_is_one_clear_error(string setting, string expected)
    {
        CheckerPolicy.TryParse([setting], [.. FunctionRules.All.Select(r => r.Name)], out _, out string error).Should().BeFalse();
        error.Should().Contain(expected);
    }

    [Fact]
    public void The_report_reads_like_a_sanitizer_and_the_json_line_holds_every_field()
    {
        var checker = new DriverChecker("card0", new Timing.ManualDeviceClock(1_500_000_000));
        var cause = new GuestAccess(GuestAccessKind.BarWrite, 0, 0x1104, 4, 0x2, 42, 1_400_000_000);
        var v = checker.Report(Example, new ViolationDetails
        {
            What = "started stream 1 with a descriptor outside mapped memory",
            Stream = 1,
            Register = "SD1_BDL",
            RegisterBar = 0,
            RegisterOffset = 0x1110,
            Value = 0x7000,
            BadAddress = 0x8000,
            Descriptor = 3,
            ErrorCode = "UNMAPPED (1)",
            Consequence = "the stream did not start",
            Cause = cause,
        })!;

        string report = v.Report("spec.md");
        report.Should().StartWith("==pcieemu== VIOLATION: ExampleRule on card0 stream 1\n");
        report.Should().Contain("by:        the guest's write of 0x00000002 (4 B) to BAR0+0x1104 (guest access #42)");
        report.Should().Contain("register:  SD1_BDL (BAR0+0x1110) = 0x7000");
        report.Should().Contain("first bad: IOVA 0x8000 (descriptor 3)");
        report.Should().Contain("device:    ERRCODE UNMAPPED (1); the stream did not start");
        report.Should().Contain("when:      device time 1.500000000 s");
        report.Should().Contain("expected:  do the right thing");
        report.Should().EndWith("see:       spec.md spec §1");

        using var json = JsonDocument.Parse(v.ToJson());
        var root = json.RootElement;
        root.GetProperty("rule").GetString().Should().Be("ExampleRule");
        root.GetProperty("stream").GetInt32().Should().Be(1);
        root.GetProperty("firstBadIova").GetString().Should().Be("0x8000");
        root.GetProperty("descriptor").GetInt32().Should().Be(3);
        root.GetProperty("deviceTimeNs").GetInt64().Should().Be(1_500_000_000);
        root.GetProperty("cause").GetProperty("sequence").GetInt64().Should().Be(42);
        root.GetProperty("cause").GetProperty("value").GetString().Should().Be("0x2");
        v.ToJson(includeWallTime: false).Should().NotContain("wallTime", "trace records stay deterministic");
    }

    [Fact]
    public void Host_problems_are_kept_apart_and_never_count_as_violations()
    {
        var checker = new DriverChecker("card0", new Timing.ManualDeviceClock(0));
        HostProblem? seen = null;
        checker.HostProblemRecorded += p => seen = p;

        checker.ReportHost("WavFileMissing", "/tmp/none.wav: no such file", stream: 2);

        checker.Count.Should().Be(0);
        checker.Snapshot().Should().BeEmpty();
        checker.HostProblems().Should().ContainSingle().Which.Should().Be(seen);
        seen!.ToString().Should().Be("WavFileMissing (stream 2): /tmp/none.wav: no such file");
    }

    [Fact]
    public void The_first_thousand_reports_are_kept_and_announced_and_all_are_counted()
    {
        var checker = new DriverChecker("card0", new Timing.ManualDeviceClock(0));
        int announced = 0;
        checker.Recorded += _ => announced++;
        for (int i = 0; i < DriverChecker.Kept + 5; i++)
        {
            checker.Report(Example, new ViolationDetails { What = "again" });
        }

        checker.Count.Should().Be(DriverChecker.Kept + 5);
        checker.Snapshot().Should().HaveCount(DriverChecker.Kept);
        announced.Should().Be(DriverChecker.Kept);
        checker.CountsByRule()["ExampleRule"].Should().Be(DriverChecker.Kept + 5);
    }
}
