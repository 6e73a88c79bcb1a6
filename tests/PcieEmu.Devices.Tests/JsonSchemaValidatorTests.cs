using System.Text.Json;
using PcieEmu.Devices.Models;

namespace PcieEmu.Devices.Tests;

/// <summary>
/// The validator's JSON Schema (2020-12) subset on small synthetic schemas: each keyword passes what the
/// specification says it passes and fails the rest, with the JSON path of the offending value.
/// </summary>
public sealed class JsonSchemaValidatorTests
{
    private static IReadOnlyList<string> Errors(string schema, string instance)
    {
        using var s = JsonDocument.Parse(schema);
        using var i = JsonDocument.Parse(instance);
        return new JsonSchemaValidator(s.RootElement).Validate(i.RootElement);
    }

    private static void Valid(string schema, string instance) =>
        Errors(schema, instance).Should().BeEmpty($"{instance} conforms to {schema}");

    private static string Invalid(string schema, string instance)
    {
        var errors = Errors(schema, instance);
        errors.Should().NotBeEmpty($"{instance} violates {schema}");
        return string.Join("\n", errors);
    }

    [Theory]
    [InlineData("object", "{}", true)]
    [InlineData("object", "[]", false)]
    [InlineData("array", "[1]", true)]
    [InlineData("array", "{}", false)]
    [InlineData("string", "\"s\"", true)]
    [InlineData("string", "1", false)]
    [InlineData("boolean", "true", true)]
    [InlineData("boolean", "false", true)]
    [InlineData("boolean", "0", false)]
    [InlineData("null", "null", true)]
    [InlineData("null", "false", false)]
    [InlineData("number", "1.5", true)]
    [InlineData("number", "3", true)]
    [InlineData("number", "\"3\"", false)]
    [InlineData("integer", "3", true)]
    [InlineData("integer", "-3", true)]
    [InlineData("integer", "18446744073709551615", true)]
    [InlineData("integer", "3.0", true)] // 2020-12 validation §6.1.1: any number with a zero fractional part
    [InlineData("integer", "1e2", true)]
    [InlineData("integer", "1.5", false)]
    [InlineData("integer", "\"3\"", false)]
    [InlineData("integer", "true", false)]
    public void Type(string type, string instance, bool ok)
    {
        string schema = $"{{\"type\":\"{type}\"}}";
        if (ok)
        {
            Valid(schema, instance);
        }
        else
        {
            Invalid(schema, instance).Should().Contain("$:").And.Contain($"expected {type}");
        }
    }

    [Fact]
    public void Type_list_accepts_any_listed_type()
    {
        const string schema = "{\"type\":[\"string\",\"null\"]}";
        Valid(schema, "\"x\"");
        Valid(schema, "null");
        Invalid(schema, "1").Should().Contain("string or null");
    }

    [Fact]
    public void Const_compares_json_values()
    {
        Valid("{\"const\":1}", "1");
        Valid("{\"const\":1}", "1.0");
        Invalid("{\"const\":1}", "2").Should().Contain("$: must be 1");
        Invalid("{\"const\":1}", "\"1\"");
        Valid("{\"const\":\"a-b\"}", "\"a\\u002db\""); // the same string, escaped
        Invalid("{\"const\":\"a\"}", "\"A\"");
        Valid("{\"const\":{\"x\":1,\"y\":[true,null]}}", "{ \"y\" : [ true , null ] , \"x\" : 1 }");
        Invalid("{\"const\":{\"x\":1}}", "{\"x\":1,\"y\":2}");
        Invalid("{\"const\":null}", "false");
    }

    [Fact]
    public void Enum_accepts_exactly_the_listed_values()
    {
        const string schema = "{\"enum\":[0,1,\"two\",null]}";
        Valid(schema, "0");
        Valid(schema, "1");
        Valid(schema, "\"two\"");
        Valid(schema, "null");
        Invalid(schema, "2").Should().Contain("$: 2 is not one of 0, 1, \"two\", null");
        Invalid(schema, "\"Two\"");
        Invalid(schema, "false");
    }

    [Fact]
    public void Required_names_each_missing_property_and_where()
    {
        const string schema = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"object\",\"required\":[\"x\",\"y\",\"z\"]}}}";
        Valid(schema, "{\"a\":{\"x\":1,\"y\":2,\"z\":3}}");
        var errors = Errors(schema, "{\"a\":{\"y\":2}}");
        errors.Should().BeEquivalentTo(["$.a: missing required property \"x\"", "$.a: missing required property \"z\""]);
    }

    [Fact]
    public void Required_ignores_non_objects()
    {
        Valid("{\"required\":[\"x\"]}", "[1]");
        Valid("{\"required\":[\"x\"]}", "\"x\"");
    }

    [Fact]
    public void AdditionalProperties_false_rejects_unknown_properties_only()
    {
        const string closed = "{\"properties\":{\"a\":{}},\"additionalProperties\":false}";
        Valid(closed, "{\"a\":1}");
        Valid(closed, "{}");
        Invalid(closed, "{\"a\":1,\"b\":2}").Should().Be("$: unknown property \"b\"");
        Valid("{\"properties\":{\"a\":{}}}", "{\"a\":1,\"b\":2}");
        Valid("{\"properties\":{\"a\":{}},\"additionalProperties\":true}", "{\"b\":2}");
    }

    [Fact]
    public void Properties_validate_each_present_property()
    {
        const string schema = "{\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"string\"}}}";
        Valid(schema, "{\"a\":1}");
        Invalid(schema, "{\"a\":\"1\",\"b\":\"x\"}").Should().StartWith("$.a: expected integer");
    }

    [Fact]
    public void Items_validates_every_element_with_its_index()
    {
        const string schema = "{\"type\":\"object\",\"properties\":{\"a\":{\"properties\":{\"b\":{\"items\":{\"type\":\"integer\"}}}}}}";
        Valid(schema, "{\"a\":{\"b\":[1,2,3]}}");
        var errors = Errors(schema, "{\"a\":{\"b\":[1,2,\"three\",4,5.5]}}");
        errors.Should().HaveCount(2);
        errors[0].Should().StartWith("$.a.b[2]: expected integer, found string");
        errors[1].Should().StartWith("$.a.b[4]: expected integer");
    }

    [Fact]
    public void Nested_paths_read_like_json_paths()
    {
        const string schema = "{\"properties\":{\"s\":{\"items\":{\"properties\":{\"f\":{\"items\":{\"enum\":[\"A\"]}}}}}}}";
        Invalid(schema, "{\"s\":[{\"f\":[\"A\"]},{\"f\":[\"A\",\"B\"]}]}").Should().StartWith("$.s[1].f[1]: \"B\" is not one of");
    }

    [Fact]
    public void MinItems_and_maxItems_bound_the_length()
    {
        const string schema = "{\"minItems\":2,\"maxItems\":3}";
        Invalid(schema, "[1]").Should().Contain("at least 2");
        Valid(schema, "[1,2]");
        Valid(schema, "[1,2,3]");
        Invalid(schema, "[1,2,3,4]").Should().Contain("at most 3");
        Valid(schema, "\"not an array\"");
    }

    [Fact]
    public void UniqueItems_rejects_equal_json_values()
    {
        const string schema = "{\"uniqueItems\":true}";
        Valid(schema, "[1,2,\"1\",[1],{\"a\":1},{\"a\":2}]");
        Invalid(schema, "[1,2,1]").Should().Contain("duplicate");
        Invalid(schema, "[\"a\",\"b\",\"a\"]").Should().Contain("duplicate");
        Invalid(schema, "[1,1.0]").Should().Contain("duplicate");
        Invalid(schema, "[{\"a\":1,\"b\":2},{\"b\":2,\"a\":1}]").Should().Contain("duplicate");
        Valid("{\"uniqueItems\":false}", "[1,1]");
    }

    [Fact]
    public void Minimum_and_maximum_are_inclusive()
    {
        const string schema = "{\"minimum\":-2,\"maximum\":10.5}";
        Valid(schema, "-2");
        Valid(schema, "10.5");
        Invalid(schema, "-2.01").Should().Contain("below the minimum -2");
        Invalid(schema, "11").Should().Contain("above the maximum 10.5");
        Invalid(schema, "1e400").Should().Contain("above the maximum");
        Invalid(schema, "-1e400").Should().Contain("below the minimum");
        Valid(schema, "\"100\"");
    }

    [Fact]
    public void MinLength_and_maxLength_count_characters()
    {
        const string schema = "{\"minLength\":2,\"maxLength\":3}";
        Invalid(schema, "\"a\"").Should().Contain("shorter than 2");
        Valid(schema, "\"ab\"");
        Valid(schema, "\"abc\"");
        Invalid(schema, "\"abcd\"").Should().Contain("longer than 3");
        // Lengths count Unicode code points (2020-12 validation §6.3.1), not UTF-16 units.
        Valid(schema, "\"\\ud83c\\udfb5\\ud83c\\udfb6\\ud83c\\udfb7\"");
        Valid("{\"maxLength\":1}", "\"\u00e9\"");
        Valid(schema, "7");
    }

    [Fact]
    public void Pattern_is_an_unanchored_regular_expression()
    {
        Valid("{\"pattern\":\"b\"}", "\"abc\"");
        Invalid("{\"pattern\":\"^b\"}", "\"abc\"").Should().Contain("\"abc\" does not match ^b");
        Valid("{\"pattern\":\"^[a-z][a-z0-9_-]{0,3}$\"}", "\"a_1-\"");
        Invalid("{\"pattern\":\"^[a-z][a-z0-9_-]{0,3}$\"}", "\"a_1-x\"");
        Valid("{\"pattern\":\"^x$\"}", "5");
    }

    [Fact]
    public void OneOf_requires_exactly_one_match()
    {
        const string schema = "{\"oneOf\":[{\"type\":\"integer\"},{\"type\":\"number\",\"minimum\":0},{\"type\":\"string\"}]}";
        Valid(schema, "-5");      // integer only
        Valid(schema, "0.5");     // minimum only
        Valid(schema, "\"s\"");   // string only
        Invalid(schema, "5").Should().Contain("exactly one").And.Contain("matched 2");
        Invalid(schema, "true").Should().Contain("matched 0");
    }

    [Fact]
    public void AnyOf_requires_at_least_one_match()
    {
        const string schema = "{\"anyOf\":[{\"type\":\"integer\"},{\"minimum\":0}]}";
        Valid(schema, "5");
        Valid(schema, "-5");
        Valid(schema, "0.5");
        Invalid(schema, "-0.5").Should().Contain("$: -0.5 matches none");
    }

    [Fact]
    public void Branch_errors_do_not_leak_when_a_branch_matches()
    {
        const string schema = "{\"properties\":{\"v\":{\"oneOf\":[{\"type\":\"integer\",\"maximum\":9},{\"type\":\"string\",\"pattern\":\"^0x\"}]}}}";
        Errors(schema, "{\"v\":\"0x10\"}").Should().BeEmpty();
        Errors(schema, "{\"v\":7}").Should().BeEmpty();
        Errors(schema, "{\"v\":10}").Should().ContainSingle().Which.Should().StartWith("$.v:");
    }

    [Fact]
    public void Local_refs_resolve_through_defs_and_keep_the_instance_path()
    {
        const string schema = """
            {
              "$defs": {
                "u8": { "type": "integer", "minimum": 0, "maximum": 255 },
                "pair": { "type": "array", "items": { "$ref": "#/$defs/u8" }, "maxItems": 2 }
              },
              "properties": { "a": { "properties": { "b": { "$ref": "#/$defs/pair" } } } }
            }
            """;
        Valid(schema, "{\"a\":{\"b\":[0,255]}}");
        Invalid(schema, "{\"a\":{\"b\":[0,256]}}").Should().StartWith("$.a.b[1]: 256 is above the maximum 255");
        Invalid(schema, "{\"a\":{\"b\":[1,2,3]}}").Should().StartWith("$.a.b: allows at most 2");
    }

    [Fact]
    public void Annotations_are_accepted_and_ignored()
    {
        Valid("{\"$schema\":\"x\",\"$id\":\"y\",\"$comment\":\"c\",\"title\":\"t\",\"description\":\"d\",\"default\":1,\"examples\":[1]}", "\"anything\"");
    }

    [Theory]
    [InlineData("{\"not\":{}}", "not")]
    [InlineData("{\"properties\":{\"a\":{\"allOf\":[]}}}", "allOf")]
    [InlineData("{\"$defs\":{\"d\":{\"exclusiveMinimum\":0}}}", "exclusiveMinimum")]
    [InlineData("{\"items\":{\"multipleOf\":2}}", "multipleOf")]
    [InlineData("{\"oneOf\":[{},{\"patternProperties\":{}}]}", "patternProperties")]
    [InlineData("{\"anyOf\":[{\"format\":\"email\"}]}", "format")]
    [InlineData("{\"if\":{},\"then\":{}}", "if")]
    public void Unsupported_keywords_are_refused_when_the_schema_is_loaded(string schema, string keyword)
    {
        using var doc = JsonDocument.Parse(schema);

        var e = Assert.Throws<ArgumentException>(() => new JsonSchemaValidator(doc.RootElement));

        e.Message.Should().Contain(keyword);
    }

    [Fact]
    public void Non_local_refs_are_refused()
    {
        using var schema = JsonDocument.Parse("{\"$ref\":\"https://example.invalid/other.json\"}");
        using var instance = JsonDocument.Parse("1");

        var act = () => new JsonSchemaValidator(schema.RootElement).Validate(instance.RootElement);

        act.Should().Throw<ArgumentException>().WithMessage("*local*");
    }

    [Fact]
    public void The_validator_is_reusable_and_independent_of_the_schema_document_lifetime()
    {
        JsonSchemaValidator v;
        using (var schema = JsonDocument.Parse("{\"type\":\"integer\",\"maximum\":3}"))
        {
            v = new JsonSchemaValidator(schema.RootElement);
        }

        using var ok = JsonDocument.Parse("3");
        using var bad = JsonDocument.Parse("4");
        v.Validate(ok.RootElement).Should().BeEmpty();
        v.Validate(bad.RootElement).Should().ContainSingle();
        v.Validate(ok.RootElement).Should().BeEmpty();
    }
}
